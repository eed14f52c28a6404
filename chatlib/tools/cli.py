"""``chatlib-local`` (``python -m chatlib.tools``): the local stack in a terminal, for instructors.

    chatlib-local serve [--step rooms|broadcast|auth] [--websocket-port N] [--connections-port N]
                        [--aws-port N] [--quiet]
    chatlib-local chat [URL] [--room R] [--user U] [--token T] [--subprotocol P]
    chatlib-local rooms [--interval S]
    chatlib-local token --user U --room R [--room R2 ...] [--ttl S] (--stack NAME | --secret-id ID)
                        [--endpoint-url URL | --aws]
    chatlib-local rotate-secret (--stack NAME | --secret-id ID) [--endpoint-url URL | --aws]

``serve`` starts the embedded AWS and the local gateway, deploys ``infra_cfn/chat.yaml`` as
stack ``chat`` at the chosen teaching step (as notebook 04 does), prints the URLs, then one
line per connection and message until Ctrl-C. ``chat`` is a terminal chat client
(:mod:`chatlib.tools.terminal_chat`); without a URL it joins the stack ``serve`` is running.
``rooms`` redraws who is in which room, read from that stack's connection table, every second.
``token`` prints a JWT for a user and rooms, signed with the secret a deployed auth-step stack
generated (read from Secrets Manager): from the running local stack's embedded AWS, or from AWS
itself with ``--aws``. ``rotate-secret`` gives that secret a new current version: tokens signed
with the version it replaces keep working until the next rotation.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: The stack ``serve`` deploys, from the course's template (:data:`chatlib.CHAT_TEMPLATE`).
STACK = "chat"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatlib-local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the embedded AWS, the gateway and the chat")
    serve.add_argument("--step", choices=["rooms", "broadcast", "auth"], default="rooms")
    serve.add_argument("--websocket-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--connections-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--aws-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--quiet", action="store_true", help="no line per connection and message")
    chat = commands.add_parser("chat", help="chat in this terminal")
    chat.add_argument("url", nargs="?", help="WebSocket URL (default: the running local stack)")
    chat.add_argument("--room", default="lobby")
    chat.add_argument("--user", default=None)
    chat.add_argument("--token", default=None, help="sent as ?token=")
    chat.add_argument("--subprotocol", default=None, help="sent as Sec-WebSocket-Protocol")
    rooms = commands.add_parser("rooms", help="a live view of who is in which room")
    rooms.add_argument("--interval", type=float, default=1.0, help="seconds between redraws")
    token = commands.add_parser("token", help="mint a JWT for a user and the rooms it may join")
    token.add_argument("--user", required=True)
    token.add_argument("--room", action="append", required=True, help="repeat for more rooms")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    rotate = commands.add_parser("rotate-secret", help="give the signing secret a new version")
    for command in (token, rotate):
        source = command.add_mutually_exclusive_group(required=True)
        source.add_argument("--stack", help="a stack deployed with Step=auth")
        source.add_argument("--secret-id", help="the signing secret's ARN or name")
        where = command.add_mutually_exclusive_group()
        where.add_argument("--endpoint-url", help="an AWS emulator (default: the local stack)")
        where.add_argument(
            "--aws", action="store_true", help="real AWS, even if a local stack runs"
        )
    return parser


def _state_file() -> Path:
    """Where ``serve`` tells ``chat``, ``rooms`` and ``token`` about the stack it runs."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chatlib" / "local-stack.json"


def read_serve_state() -> dict[str, Any] | None:
    """What the running ``serve`` wrote (URLs, endpoint, region, table, stack, pid), or
    ``None`` when no ``serve`` has written it or it cannot be read."""
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def chat(args: argparse.Namespace) -> int:
    from chatlib.tools.terminal_chat import run_chat

    url = args.url or (read_serve_state() or {}).get("websocket_url")
    if url is None:
        print("no URL given and no local stack running: start `chatlib-local serve` first")
        return 1
    return run_chat(
        url,
        room_id=args.room,
        user_id=args.user,
        token=args.token,
        subprotocol=args.subprotocol,
        stdin=sys.stdin,
        stdout=sys.stdout,
    )


def serve(args: argparse.Namespace) -> int:
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack
    from chatlib.local.gateway.stack import start_local_stack

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    gateway_log = logging.getLogger("chatlib.local.gateway")
    gateway_log.addHandler(handler)
    gateway_log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    gateway_log.propagate = False

    # Handlers first: whoever reads the URLs below may signal at once.
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stack = start_local_stack(
        websocket_port=args.websocket_port,
        connections_port=args.connections_port,
        aws_port=args.aws_port,
    )
    result = deploy_stack(
        CHAT_TEMPLATE, stack_name=STACK, parameters={"Step": args.step}, progress=lambda _: None
    )
    api_id, stage = result.outputs["ApiId"], result.outputs["WebSocketUrl"].rsplit("/", 1)[1]
    url = stack.gateway.websocket_url(api_id, stage)
    print(f"chat ({args.step} step, stack {STACK}) is up", flush=True)
    print(f"  WebSocket URL : {url}", flush=True)
    print(f"  @connections  : {stack.gateway.connections_url(api_id, stage)}", flush=True)
    print(f"  browser chat  : {stack.gateway.chat_page_url(api_id, stage)}", flush=True)
    print(f"  embedded AWS  : {stack.aws_endpoint_url}", flush=True)
    if args.step == "auth":
        print(f"  tokens        : chatlib-local token --stack {STACK} --user you --room lobby")
        print(f"  try           : wsdump '{url}?roomId=lobby&token=<token>'", flush=True)
    else:
        print(f"  try           : wsdump '{url}?roomId=lobby&userId=you'", flush=True)
    print('                  then type {"action": "sendmessage", "message": "hi"}', flush=True)
    print("Ctrl-C stops it.", flush=True)
    state = _state_file()
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "websocket_url": url,
                "aws_endpoint_url": stack.aws_endpoint_url,
                "region": stack.aws.region,
                "table": result.outputs["TableName"],
                "stack": STACK,
                "pid": os.getpid(),
            }
        )
    )

    # A signal may be delivered to any of the process's threads, and then nothing wakes a main
    # thread blocked in an untimed wait: wake up a few times a second so the handler runs.
    while not stopping.wait(timeout=0.2):
        pass
    print("stopping…", flush=True)
    # Should the shutdown (or the interpreter's exit after it) ever hang, say where, in the
    # log a test or an instructor sees, and end the process.
    faulthandler.dump_traceback_later(30, exit=True)
    if (read_serve_state() or {}).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            state.unlink()
    stack.stop()
    return 0


def rooms(args: argparse.Namespace) -> int:
    import boto3

    from chatlib.store import ConnectionStore
    from chatlib.tools.room_view import watch_rooms

    state = read_serve_state()
    if state is None:
        print("no local stack running: start `chatlib-local serve` first")
        return 1
    client = boto3.client(
        "dynamodb",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    watch_rooms(
        ConnectionStore(state["table"], client=client), stdout=sys.stdout, interval=args.interval
    )
    return 0


def _secret_command(args: argparse.Namespace, action: Any) -> int:
    """Run ``action()`` against the secret's AWS (the local stack's, an emulator, or AWS)."""
    from chatlib.errors import ChatlibError

    endpoint = args.endpoint_url
    if endpoint is None and not args.aws:
        endpoint = (read_serve_state() or {}).get("aws_endpoint_url")
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ.setdefault(name, value)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        print(action())
    except ChatlibError as error:
        print(f"chatlib-local {args.command}: {error.message}", file=sys.stderr)
        return 1
    return 0


def token(args: argparse.Namespace) -> int:
    from chatlib.deploy import issue_token

    return _secret_command(
        args,
        lambda: issue_token(
            user_id=args.user,
            rooms=args.room,
            stack_name=args.stack,
            secret_id=args.secret_id,
            ttl_seconds=args.ttl,
        ),
    )


def rotate_secret(args: argparse.Namespace) -> int:
    from chatlib.deploy import rotate_token_secret

    return _secret_command(
        args,
        lambda: (
            "new current version: "
            + rotate_token_secret(stack_name=args.stack, secret_id=args.secret_id)
        ),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "chat":
        return chat(args)
    if args.command == "rooms":
        return rooms(args)
    if args.command == "token":
        return token(args)
    if args.command == "rotate-secret":
        return rotate_secret(args)
    return 2
