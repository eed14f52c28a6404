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
  URLs, tokens still valid (:class:`Supervisor`), or stops with exit status 3
  (:data:`EXIT_AWS_LOST`) and one line. Errors print as one line, never a traceback.
  And moto's process ends with ``serve``, however ``serve`` ends (SIGKILL, a closed
  terminal): it watches a pipe from ``serve`` (:mod:`chatlib.local.moto_startup`).

Why this size: one command's whole life (start, deploy, the lines it prints, supervision,
shutdown) reads top to bottom here; the parts other commands share live in
:mod:`.local_state` and :mod:`.classroom`.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import ipaddress
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatlib.tools.classroom import learner_addresses
from chatlib.tools.local_state import (
    chatlib_local_command,
    forget_serve_state,
    local_signing_secret,
    write_serve_state,
    wsdump_command,
)

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    supervisor = Supervisor(args, stack, say, ids, state)
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


#: ``serve``'s exit status when the embedded AWS ended and could not be brought back.
EXIT_AWS_LOST = 3
#: The embedded AWS is restarted at most this many times in :data:`RESTART_WINDOW_SECONDS`
#: (a machine that keeps killing it is better told so than fed restarts).
RESTARTS_ALLOWED = 3
RESTART_WINDOW_SECONDS = 600.0
#: RFC 6455's "Service Restart": a client such as the browser chat page reconnects.
SERVICE_RESTART = 1012


class AWSLost(Exception):
    """The embedded AWS ended and ``serve`` could not bring it back (the line to print)."""


class Supervisor:
    """Watch the embedded AWS ``serve`` started in its own process, and bring the chat back
    when that process ends (a crash, or the system ending it under memory pressure).

    Without it the gateway kept serving: every handshake got 500 and the terminal filled with
    tracebacks, never saying why. :meth:`check` runs on the main thread between two looks at
    :class:`StopRequest` (so no lock is shared with a signal handler), and when the process
    has ended it says so in one line, starts the embedded AWS again on the same port, deploys
    the same step with moto's ids seeded as before (:func:`_deploy_step`: the same API id,
    so every URL and join link learners hold works again), puts the local signing secret
    back (tokens minted before still verify) and closes the connections that were open
    (their rows went with the old AWS) with 1012, so their clients reconnect.
    """

    def __init__(
        self, args: argparse.Namespace, stack: Any, say: Any, ids: int, state: dict[str, Any]
    ) -> None:
        self.args, self.stack, self.say, self.ids, self.state = args, stack, say, ids, state
        self.restarts: list[float] = []

    def check(self) -> None:
        status = self.stack.aws_exit_status()
        if status is None:
            return
        port = self.stack.aws_endpoint_url.rsplit(":", 1)[1]
        self.say(
            f"the embedded AWS (moto, pid {self.stack.aws_pid()}) has stopped "
            f"({_how_it_ended(status)}): starting it again on port {port} and deploying the "
            f"{self.args.step} step again"
        )
        began = time.monotonic()
        self.restarts = [t for t in self.restarts if began - t < RESTART_WINDOW_SECONDS]
        if len(self.restarts) >= RESTARTS_ALLOWED:
            raise AWSLost(
                f"the embedded AWS stopped {len(self.restarts) + 1} times within "
                f"{RESTART_WINDOW_SECONDS / 60:.0f} minutes (is this machine short of memory?)"
            )
        self.restarts.append(began)
        try:
            outputs = self.stack.restart_aws(
                lambda: _deploy_step(self.stack, self.args.step, self.args.secret_file, self.ids)
            )
        except Exception as error:  # any failure here ends serve with one line
            raise AWSLost(
                f"the embedded AWS stopped and could not be started again ({_one_line(error)})"
            ) from None
        self.stack.refresh()
        try:
            count = self.stack.close_connections(SERVICE_RESTART, "the embedded AWS restarted")
            closed = f"{count} open connection(s) closed with {SERVICE_RESTART} to reconnect"
        except Exception as error:  # the chat is back all the same
            closed = f"the connections open before could not be closed ({_one_line(error)})"
        state = _serve_state(self.args, self.stack, outputs)
        moved = state["websocket_url"] != self.state["websocket_url"]
        self.state = state
        write_serve_state(state)
        self.say(
            f"the chat is back ({time.monotonic() - began:.1f} s), "
            + ("at NEW addresses (below)" if moved else "at the same addresses")
            + (", tokens minted before still valid" if self.args.step == "auth" else "")
            + f"; {closed}"
        )
        if moved:
            _print_urls(self.args, self.stack, outputs)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _how_it_ended(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


class StopRequest:
    """Ctrl-C or SIGTERM, noted by a signal handler and waited for by the main thread.

    Not a ``threading.Event``: Python runs a handler in the main thread between two bytecodes,
    possibly while that thread holds the lock inside ``Event.wait``, and ``Event.set`` takes the
    same (non-reentrant) lock, so the handler would wait for itself forever. That hung one
    ``serve`` in a CI run. The handler here only assigns an attribute; the main thread sleeps
    in short steps (a signal may be delivered to any thread, and nothing else would wake it).
    """

    def __init__(self, poll_seconds: float = 0.2) -> None:
        self.poll_seconds = poll_seconds
        self.signal: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def wait(self, check: Callable[[], None] | None = None) -> int:
        """The signal, once one came; ``check`` runs (on this thread) after each nap."""
        while self.signal is None:
            time.sleep(self.poll_seconds)
            if check is not None and self.signal is None:
                check()
        return self.signal


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
