"""``chatlib-local`` (or ``python -m chatlib``): the local stack from a terminal, for instructors.

    chatlib-local serve [--step rooms|broadcast] [--websocket-port N] [--connections-port N]
                        [--aws-port N]

It starts the embedded AWS and the local gateway, deploys the chat of the chosen teaching
step, prints the URLs, then one line per connection and message until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatlib-local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the embedded AWS, the gateway and the chat")
    serve.add_argument("--step", choices=["rooms", "broadcast"], default="rooms")
    serve.add_argument("--websocket-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--connections-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--aws-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--quiet", action="store_true", help="no line per connection and message")
    return parser


def serve(args: argparse.Namespace) -> int:
    from chatlib.api_definition import deploy_chat
    from chatlib.gateway.stack import start_local_stack

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    gateway_log = logging.getLogger("chatlib.gateway")
    gateway_log.addHandler(handler)
    gateway_log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    gateway_log.propagate = False

    stack = start_local_stack(
        websocket_port=args.websocket_port,
        connections_port=args.connections_port,
        aws_port=args.aws_port,
    )
    api = deploy_chat(args.step)
    url = stack.gateway.websocket_url(api.api_id, api.stage)
    print(f"chat ({args.step} step) is up", flush=True)
    print(f"  WebSocket URL : {url}", flush=True)
    print(f"  @connections  : {stack.gateway.connections_url(api.api_id, api.stage)}", flush=True)
    print(f"  embedded AWS  : {stack.aws_endpoint_url}", flush=True)
    print(f"  try           : wsdump '{url}?roomId=lobby&userId=you'", flush=True)
    print('                  then type {"action": "sendmessage", "message": "hi"}', flush=True)
    print("Ctrl-C stops it.", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    print("stopping…", flush=True)
    stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2
