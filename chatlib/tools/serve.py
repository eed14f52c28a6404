"""``chatlib-local serve``: the embedded AWS, the gateway and the chat, in a terminal.

It deploys ``infra_cfn/chat.yaml`` as stack ``chat`` at the chosen teaching step (as notebook
04 does), says what it is doing while it starts, prints the URLs and commands that run as
printed, then one line per connection and message until Ctrl-C.

* **The auth step** signs tokens with the local signing secret (kept beside the state file,
  or ``--secret-file``), written into the embedded Secrets Manager after the deploy, so a
  token minted before a restart still verifies after it.
* **A classroom** (``--host 0.0.0.0`` or a LAN address) serves learners on other machines.
  Beyond loopback it refuses the steps without authentication (anyone on the network could
  join as anyone, in any room) unless ``--trust-network`` says the network is yours alone,
  and it prints what learners open: at the address it listens on, or, listening on every
  interface, at each interface's own (:func:`.classroom.learner_addresses`).
  ``@connections`` still answers this machine only.
* **Supervision.** moto runs in its own process; should it end (a crash, the system ending
  it under memory pressure), serve says so in one line and brings the chat back at the same
  URLs, tokens still valid, or stops with exit status 3 and one line
  (:mod:`.supervision`). Errors print as one line, never a traceback.
  And moto's process ends with ``serve``, however ``serve`` ends (SIGKILL, a closed
  terminal): it watches a pipe from ``serve`` (:mod:`chatlib.local.moto_startup`).
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import hashlib
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from chatlib.errors import AWSLost
from chatlib.tools.classroom import is_loopback, learner_addresses
from chatlib.tools.local_state import (
    chatlib_local_command,
    forget_serve_state,
    local_signing_secret,
    write_serve_state,
    wsdump_command,
)
from chatlib.tools.supervision import EXIT_AWS_LOST, StopRequest, Supervisor

__all__ = ["add_serve_arguments", "serve"]

#: The stack ``serve`` deploys, from the course's template (:data:`chatlib.CHAT_TEMPLATE`).
STACK = "chat"


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--step", choices=["rooms", "broadcast", "auth"], default="rooms")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="where to listen: 127.0.0.1 (this machine), or 0.0.0.0 or a LAN address for a class",
    )
    serve.add_argument(
        "--trust-network",
        action="store_true",
        help="serve the rooms or broadcast step (no authentication) beyond loopback anyway",
    )
    serve.add_argument(
        "--advertise",
        help="the host name or address learners use (default: --host's address, or with "
        "0.0.0.0 each interface's)",
    )
    serve.add_argument("--secret-file", type=Path, help="the token-signing secret (auth step)")
    serve.add_argument("--websocket-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--connections-port", type=int, default=0, help="0: any free port")
    serve.add_argument("--aws-port", type=int, default=0, help="0: any free port")
    serve.add_argument(
        "--instance-idle", type=float, default=300, help="seconds before an idle function ends"
    )
    serve.add_argument("--quiet", action="store_true", help="no line per connection and message")


def refusal(step: str, host: str, trusted: bool) -> str | None:
    """Why ``serve`` must not start as asked, or ``None``."""
    if step == "auth" or trusted or is_loopback(host):
        return None
    return (
        f"chatlib-local serve: refusing the {step} step on {host}: it has no authentication, "
        "so anyone on the network could join as anyone. Use --step auth (one token per "
        "learner: `chatlib-local token --roster names.txt`), or add --trust-network if this "
        "network is yours alone."
    )


def serve(args: argparse.Namespace) -> int:
    reason = refusal(args.step, args.host, args.trust_network)
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    _log_gateway_lines(quiet=args.quiet)
    _errors_in_one_line()
    _raise_open_file_limit()
    # Handlers first: whoever reads the URLs below may signal at once.
    stopping = StopRequest()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stopping.handle)
    started = time.monotonic()
    say = _progress(started)
    say("starting the embedded AWS and the gateway")
    stack = _start(args)
    say(f"deploying infra_cfn/chat.yaml as stack {STACK} ({args.step} step)")
    ids = secrets.randbelow(2**31)
    outputs = _deploy_step(stack, args.step, args.secret_file, ids)
    if args.step == "auth":
        say("the auth step signs with the local secret: tokens survive a restart")
    state = _serve_state(args, stack, outputs)
    write_serve_state(state)
    say(f"ready in {time.monotonic() - started:.1f} s")
    _print_urls(args, stack, outputs)

    def publish(outputs: dict[str, str]) -> bool:
        """Record where the chat is after a restart; whether its URLs moved."""
        nonlocal state
        before, state = state, _serve_state(args, stack, outputs)
        write_serve_state(state)
        return state["websocket_url"] != before["websocket_url"]

    supervisor = Supervisor(
        stack,
        say,
        args.step,
        redeploy=lambda: _deploy_step(stack, args.step, args.secret_file, ids),
        publish=publish,
        announce=lambda outputs: _print_urls(args, stack, outputs),
    )
    status = 0
    try:
        stopping.wait(check=supervisor.check)
    except AWSLost as lost:
        print(f"chatlib-local serve: {lost}; stopping", file=sys.stderr, flush=True)
        status = EXIT_AWS_LOST
    print("stopping…", flush=True)
    # Should the shutdown (or the interpreter's exit after it) ever hang, say where, in the
    # log a test or an instructor sees, and end the process.
    faulthandler.dump_traceback_later(30, exit=True)
    forget_serve_state(os.getpid())
    stack.stop()
    return status


def _serve_state(args: argparse.Namespace, stack: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """What ``chat``, ``rooms``, ``token`` and ``logs`` read (:mod:`.local_state`)."""
    api_id, stage = _api_and_stage(outputs)
    learners = _learners_hosts(args)
    return {
        "websocket_url": stack.gateway.websocket_url(api_id, stage),
        "aws_endpoint_url": stack.aws_endpoint_url,
        "region": stack.aws.region,
        "table": outputs["TableName"],
        "stack": STACK,
        "step": args.step,
        "chat_page_url": stack.gateway.chat_page_url(
            api_id, stage, learners[0] if learners else None
        ),
        "pid": os.getpid(),
    }


def _api_and_stage(outputs: dict[str, str]) -> tuple[str, str]:
    return outputs["ApiId"], outputs["WebSocketUrl"].rsplit("/", 1)[1]


def _progress(started: float) -> Any:
    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {line}", flush=True)

    return say


class OneLineFormatter(logging.Formatter):
    """A record as one line: an exception's type and message, never its traceback. The
    instructor's terminal is often projected, and a client already got its answer (500, an
    error frame); the traceback tells neither what to do."""

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        line = super().format(plain)
        return line if error is None else f"{line} ({type(error).__name__}: {error})"


def _errors_in_one_line() -> None:
    """Whatever else logs a warning or an error in this process (websockets' handshake
    errors, asyncio's), or fails in a thread, prints one line too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger().addHandler(handler)

    def one_line(hook: Any) -> None:
        print(
            f"{time.strftime('%H:%M:%S')} thread {hook.thread.name if hook.thread else '?'}: "
            f"{hook.exc_type.__name__}: {hook.exc_value}",
            file=sys.stderr,
            flush=True,
        )

    threading.excepthook = one_line


def _log_gateway_lines(*, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
    gateway_log = logging.getLogger("chatlib.local.gateway")
    gateway_log.addHandler(handler)
    gateway_log.setLevel(logging.WARNING if quiet else logging.INFO)
    gateway_log.propagate = False


#: Enough descriptors for a class and a big room: each WebSocket, each kept-alive
#: ``@connections`` connection and each function instance's pipes is one.
OPEN_FILES_WANTED = 65536


def _raise_open_file_limit() -> None:
    """Raise this process's soft limit on open files towards its hard limit. Many systems
    start a terminal at 1,024 (macOS at 256), and a room of 1,000 needs more than that: the
    handshakes past the limit time out with nothing said. Where the system has no such limit
    (Windows) or refuses, nothing changes."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # macOS caps below the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _start(args: argparse.Namespace) -> Any:
    from chatlib.local.gateway.server import GatewayOptions
    from chatlib.local.gateway.stack import start_local_stack

    return start_local_stack(
        host=args.host,
        websocket_port=args.websocket_port,
        connections_port=args.connections_port,
        aws_port=args.aws_port,
        options=GatewayOptions(instance_idle_seconds=args.instance_idle),
        aws_in_own_process=True,  # a busy chat and moto then do not share one interpreter
    )


def _deploy_step(stack: Any, step: str, secret_file: Path | None, ids: int) -> dict[str, str]:
    """Deploy ``step`` into a fresh embedded AWS, its ids drawn from seed ``ids``; the
    outputs. moto draws every id it makes (the API's, the table's name suffix) from one
    random generator, which ``/moto-api/seed`` seeds: the same seed before the same deploy
    gives the same ids, so a restarted embedded AWS serves the API at the same URL."""
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack

    # moto answers its first request once it has loaded the services the deploy uses
    # (chatlib.local.moto_startup); meanwhile this process loads botocore's models for them
    preparing = threading.Thread(target=_load_client_models, name="deploy-models", daemon=True)
    preparing.start()
    seeding = urllib.request.Request(
        f"{stack.aws_endpoint_url}/moto-api/seed?a={ids}", method="POST"
    )
    try:
        with urllib.request.urlopen(seeding, timeout=60):
            pass
    finally:
        preparing.join()  # before this thread makes a client: boto3's session is not shared
    result = deploy_stack(
        CHAT_TEMPLATE, stack_name=STACK, parameters={"Step": step}, progress=lambda _: None
    )
    if step == "auth":
        _install_signing_secret(result.outputs["TokenSecretArn"], secret_file)
    return result.outputs


#: The services the deploy of ``infra_cfn/chat.yaml`` and moto's bridge ask (botocore's names).
DEPLOY_SERVICES = (
    *("cloudformation", "s3", "sts", "iam", "lambda", "apigatewayv2"),
    *("dynamodb", "secretsmanager", "cloudwatch"),
)


def _load_client_models() -> None:
    """Make (and drop) one client per :data:`DEPLOY_SERVICES`: botocore then holds their
    models, which the deploy's own clients would each load on first use."""
    import boto3

    for service in DEPLOY_SERVICES:
        boto3.client(service)


def _install_signing_secret(secret_arn: str, secret_file: Path | None) -> None:
    """Replace the secret the template generated (new at every start of the embedded AWS)
    with the local one, before any authorizer has read it.

    Tokens name the secret's version they were signed with (``kid``), so the version id must
    survive a restart too: it is derived from the secret itself, not drawn at random.
    """
    import boto3

    secret = local_signing_secret(secret_file)
    version = uuid.uuid5(uuid.NAMESPACE_URL, hashlib.sha256(secret.encode()).hexdigest())
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_arn, SecretString=secret, ClientRequestToken=str(version)
    )


def _learners_hosts(args: argparse.Namespace) -> list[str]:
    """The addresses learners on other machines use (:func:`.classroom.learner_addresses`)."""
    return [address for _, address in learner_addresses(args.host, args.advertise)]


def _print_urls(args: argparse.Namespace, stack: Any, outputs: dict[str, str]) -> None:
    gateway, command = stack.gateway, chatlib_local_command()
    api_id, stage = _api_and_stage(outputs)
    url = gateway.websocket_url(api_id, stage)
    lines = [
        f"chat ({args.step} step, stack {STACK}) is up",
        f"  WebSocket URL : {url}",
        f"  @connections  : {gateway.connections_url(api_id, stage)}",
        f"  browser chat  : {gateway.chat_page_url(api_id, stage)}",
        f"  embedded AWS  : {stack.aws_endpoint_url}",
        f"  chat          : {command} chat --room lobby"
        + (" --token-file my.token" if args.step == "auth" else " --user you"),
        f"  rooms         : {command} rooms",
        f"  logs          : {command} logs sendmessage --follow",
    ]
    if args.step == "auth":
        lines.append(f"  tokens        : {command} token --user you --room lobby --out my.token")
    wsdump = wsdump_command()
    if wsdump:
        query = (
            "roomId=lobby&token=$(cat my.token)"
            if args.step == "auth"
            else "roomId=lobby&userId=you"
        )
        lines.append(f'  try           : {wsdump} "{url}?{query}"')
        lines.append('                  then type {"action": "sendmessage", "message": "hi"}')
    if not is_loopback(args.host):
        lines += _classroom_lines(args, gateway, api_id, stage, command)
    lines.append("Ctrl-C stops it.")
    print("\n".join(lines), flush=True)


def _classroom_lines(
    args: argparse.Namespace, gateway: Any, api_id: str, stage: str, command: str
) -> list[str]:
    where = learner_addresses(args.host, args.advertise)
    if not where:
        heading = (
            "but this machine has no network address besides loopback: learners elsewhere "
            "cannot reach it (the links below work on this machine only)"
        )
        where = [("", gateway.local_host)]
    elif len(where) == 1:
        heading = f"learners on this network use {where[0][1]}"
    else:
        heading = "learners use the address of the network they are on"
    lines = [f"classroom: listening on {args.host}; {heading}"]
    for interface, host in where:
        named = f"  ({interface})" if len(where) > 1 and interface else ""
        lines.append(f"  learners open : {gateway.chat_page_url(api_id, stage, host)}{named}")
        lines.append(f"  WebSocket URL : {gateway.websocket_url(api_id, stage, host)}")
    if args.step == "auth":
        lines.append(
            f"  join links    : {command} token --roster names.txt --room lobby --out-dir links"
        )
        lines.append(
            "                  (one link per learner, the token after '#': hand each theirs)"
        )
        if len(where) > 1:
            lines.append(
                f"                  (links open {where[0][1]}; for another network add "
                "--page-url with its page above)"
            )
    else:
        lines.append("  (--trust-network: no authentication; anyone here can join as anyone)")
    lines.append("  if they cannot connect: same network? a firewall on this machine's ports?")
    return lines
