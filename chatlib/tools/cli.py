"""``chatlib-local`` (``python -m chatlib.tools``): the local stack in a terminal, for instructors.

    chatlib-local serve [--step rooms|broadcast|auth] [--host H [--trust-network]] [--quiet] …
    chatlib-local chat [URL] [--room R] [--user U | --token-file F] [--subprotocol P]
    chatlib-local rooms [--interval S]
    chatlib-local token --user U --room R [--room R2 …] [--ttl S] [--out FILE]
    chatlib-local token --roster names.txt [--room R …] [--out-dir DIR]
    chatlib-local logs FUNCTION [--follow] [--since MINUTES]
    chatlib-local rotate-secret [--stack NAME | --secret-id ID] [--endpoint-url URL | --aws]
    chatlib-local deploy [--stack NAME] [--step S] [--fan-out F] [--alarm-email E]
                         [--endpoint-url URL | --aws]
    chatlib-local teardown [--stack NAME] [--endpoint-url URL | --aws]
    chatlib-local smoke [URL] [--stack NAME] [--step S] [--table T] [--secret-id ID] [--aws]

``serve`` (:mod:`chatlib.tools.serve`) starts the embedded AWS and the local gateway, deploys
the chat and logs each connection and message. ``chat`` is a terminal chat client; without a
URL it joins the stack ``serve`` runs. ``rooms`` redraws who is in which room. ``token`` mints
a JWT with the secret of a deployed auth-step stack (the local one, or AWS with ``--aws``),
or one join link per learner of a roster (:mod:`chatlib.tools.classroom`). ``logs`` prints a
function's CloudWatch Logs, like ``sam logs``, locally or with ``--aws``. ``rotate-secret``
gives the signing secret a new current version: tokens signed with the version it replaces keep
working until the next rotation. ``deploy`` and ``teardown`` run
:func:`chatlib.deploy_stack` and :func:`chatlib.teardown_stack` on ``infra_cfn/chat.yaml``, so
the whole real-account path is six commands (``deploy``, ``smoke``, ``token``, ``chat``, ``logs``,
``teardown``; the README shows them). ``smoke`` checks a deployed chat end to end in seconds
(:mod:`chatlib.tools.smoke`): rooms apart, the sender's copy, a stale row cleaned on 410, the
frame limit, ``$default``, and at the auth step bad tokens refused; it exits 1 if any failed.

A token is a password for its lifetime: ``chat`` reads it from ``--token-file`` or the
``CHATLIB_TOKEN`` variable (``--token`` also works, but shows in ``ps``), ``token --out``
writes it to an owner-only file. Every command ends with one line, never a traceback, when
the stack is gone or was never started, or AWS cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatlib.errors import CommandError
from chatlib.tools.local_state import LOCAL_CREDENTIALS, read_serve_state, running_stack
from chatlib.tools.serve import STACK, add_serve_arguments, serve

__all__ = ["main", "read_serve_state"]

#: Where ``chat`` looks for a token when no option gives one.
TOKEN_VARIABLE = "CHATLIB_TOKEN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatlib-local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(
        commands.add_parser("serve", help="run the embedded AWS, the gateway and the chat")
    )
    chat = commands.add_parser("chat", help="chat in this terminal")
    chat.add_argument("url", nargs="?", help="WebSocket URL (default: the running local stack)")
    chat.add_argument("--room", default="lobby")
    chat.add_argument("--user", default=None)
    secret = chat.add_mutually_exclusive_group()
    secret.add_argument(
        "--token-file", type=Path, help=f"a file holding the token (or {TOKEN_VARIABLE})"
    )
    secret.add_argument(
        "--token", default=None, help="the token itself (visible in ps: prefer a file)"
    )
    chat.add_argument("--subprotocol", default=None, help="sent as Sec-WebSocket-Protocol")
    rooms = commands.add_parser("rooms", help="a live view of who is in which room")
    rooms.add_argument("--interval", type=float, default=1.0, help="seconds between redraws")
    token = commands.add_parser("token", help="mint a JWT, or one join link per learner")
    token.add_argument("--user", help="the user the token names")
    token.add_argument("--room", action="append", default=[], help="repeat for more rooms")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--out", type=Path, help="write the token to this file (owner-only)")
    token.add_argument("--roster", type=Path, help="one learner a line: user [rooms…]")
    token.add_argument("--out-dir", type=Path, default=Path("join-links"), help="for --roster")
    token.add_argument("--page-url", help="the chat page the links open (default: serve's)")
    source = token.add_mutually_exclusive_group()
    source.add_argument("--stack", default=STACK, help="a stack deployed with Step=auth")
    source.add_argument("--secret-id", help="the signing secret's ARN or name")
    _add_where(token)
    rotate = commands.add_parser("rotate-secret", help="give the signing secret a new version")
    rotation_source = rotate.add_mutually_exclusive_group()
    rotation_source.add_argument("--stack", default=STACK, help="a stack deployed with Step=auth")
    rotation_source.add_argument("--secret-id", help="the signing secret's ARN or name")
    _add_where(rotate)
    logs = commands.add_parser("logs", help="a function's CloudWatch Logs, like `sam logs`")
    logs.add_argument("function", help="e.g. sendmessage, chat-sendmessage or /aws/lambda/…")
    logs.add_argument("--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--since", type=float, default=60, help="minutes back (default 60)")
    logs.add_argument("--stack", default=STACK, help="prefix for a short function name")
    _add_where(logs)
    deploy = commands.add_parser("deploy", help="deploy infra_cfn/chat.yaml as a stack")
    deploy.add_argument("--stack", default=STACK, help=f"the stack's name (default {STACK})")
    deploy.add_argument(
        "--step",
        choices=["broadcast", "rooms", "auth"],
        help="the teaching step (an update keeps the deployed one if omitted)",
    )
    deploy.add_argument(
        "--fan-out",
        choices=["single", "sharded"],
        help="how a message reaches a room: one invocation, or pages through an SQS queue "
        "(an update keeps the deployed one if omitted)",
    )
    deploy.add_argument("--alarm-email", help="where the alarms write (confirm the e-mail)")
    _add_where(deploy)
    teardown = commands.add_parser("teardown", help="delete the stack and its code bucket")
    teardown.add_argument("--stack", default=STACK, help=f"the stack's name (default {STACK})")
    _add_where(teardown)
    smoke = commands.add_parser("smoke", help="check a deployed chat end to end")
    smoke.add_argument("url", nargs="?", help="WebSocket URL (default: the stack's output)")
    smoke.add_argument("--stack", help="the stack to read URL, table, secret and step from")
    smoke.add_argument(
        "--step",
        choices=["broadcast", "rooms", "auth"],
        help="what to expect (default: the stack's Step parameter)",
    )
    smoke.add_argument("--table", help="the connection table, to plant a stale row")
    smoke.add_argument("--secret-id", help="the signing secret, to mint tokens at the auth step")
    _add_where(smoke)
    return parser


def _add_where(command: argparse.ArgumentParser) -> None:
    where = command.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", help="an AWS emulator (default: the running local stack)")
    where.add_argument("--aws", action="store_true", help="real AWS, even if a local stack runs")


def chat(args: argparse.Namespace) -> int:
    from chatlib.tools.terminal_chat import run_chat

    url = args.url or running_stack()["websocket_url"]
    token = args.token
    if args.token_file is not None:
        token = _read_token_file(args.token_file)
    elif token is None:
        token = os.environ.get(TOKEN_VARIABLE) or None
    return run_chat(
        url,
        room_id=args.room,
        user_id=args.user,
        token=token,
        subprotocol=args.subprotocol,
        stdin=sys.stdin,
        stdout=sys.stdout,
    )


def _read_token_file(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None


def rooms(args: argparse.Namespace) -> int:
    import boto3

    from chatlib.store import ConnectionStore
    from chatlib.tools.room_view import watch_rooms

    state = running_stack()
    client = boto3.client(
        "dynamodb",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        **LOCAL_CREDENTIALS,
    )
    watch_rooms(
        ConnectionStore(state["table"], client=client), stdout=sys.stdout, interval=args.interval
    )
    return 0


def _point_boto3(args: argparse.Namespace) -> dict[str, Any] | None:
    """Point boto3 at the running local stack (or ``--endpoint-url``) unless ``--aws``;
    return the local stack's state when it is the one used."""
    if args.aws:
        return None
    state = None
    endpoint = args.endpoint_url
    if endpoint is None:
        state = running_stack()
        endpoint = state["aws_endpoint_url"]
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
    os.environ.setdefault("AWS_DEFAULT_REGION", (state or {}).get("region", "us-east-1"))
    return state


def token(args: argparse.Namespace) -> int:
    from chatlib.deploy import issue_token
    from chatlib.tools.classroom import read_roster, write_join_links

    if (args.user is None) == (args.roster is None):
        raise CommandError("give --user (one token) or --roster (a class)")
    state = _point_boto3(args)

    def mint(user_id: str, rooms: list[str] | tuple[str, ...]) -> str:
        return issue_token(
            user_id=user_id,
            rooms=rooms,
            stack_name=None if args.secret_id else args.stack,
            secret_id=args.secret_id,
            ttl_seconds=args.ttl,
        )

    expires = datetime.fromtimestamp(time.time() + args.ttl, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lifetime = f"expires {expires} (in {_duration(args.ttl)})"
    if args.roster is None:
        if not args.room:
            raise CommandError("name at least one --room")
        minted = mint(args.user, args.room)
        if args.out is not None:
            _write_private(args.out, minted)
            print(f"token for {args.user} written to {args.out}; {lifetime}", file=sys.stderr)
        else:
            print(minted)
            print(
                f"token for {args.user}, rooms {', '.join(args.room)}: {lifetime}", file=sys.stderr
            )
        return 0
    page_url = args.page_url or (state or {}).get("chat_page_url")
    if page_url is None:
        raise CommandError("--roster with --aws needs --page-url (the chat page)")
    try:
        learners = read_roster(args.roster.read_text(), args.room)
    except (OSError, ValueError) as error:
        raise CommandError(f"{args.roster}: {error}") from None
    paths = write_join_links(
        learners,
        page_url=page_url,
        out_dir=args.out_dir,
        mint=lambda learner: mint(learner.user_id, learner.rooms),
    )
    for learner, path in zip(learners, paths, strict=True):
        print(f"  {learner.user_id:<16} {' '.join(learner.rooms):<24} {path}")
    print(f"wrote {len(paths)} join links to {args.out_dir}/ (one per learner; {lifetime})")
    return 0


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def logs(args: argparse.Namespace) -> int:
    from chatlib.tools.log_tail import tail_function_logs

    _point_boto3(args)
    return tail_function_logs(
        args.function, stack=args.stack, since_minutes=args.since, follow=args.follow
    )


def rotate_secret(args: argparse.Namespace) -> int:
    from chatlib.deploy import rotate_token_secret

    _point_boto3(args)
    version = rotate_token_secret(
        stack_name=None if args.secret_id else args.stack, secret_id=args.secret_id
    )
    print(f"new current version: {version}")
    return 0


def deploy(args: argparse.Namespace) -> int:
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack

    _point_boto3(args)
    given = {"Step": args.step, "FanOut": args.fan_out, "AlarmEmail": args.alarm_email}
    result = deploy_stack(
        CHAT_TEMPLATE,
        stack_name=args.stack,
        parameters={key: value for key, value in given.items() if value is not None},
    )
    print(f"WebSocket URL: {result.outputs['WebSocketUrl']}")
    return 0


def teardown(args: argparse.Namespace) -> int:
    from chatlib.deploy import teardown_stack

    _point_boto3(args)
    teardown_stack(args.stack)
    return 0


def smoke(args: argparse.Namespace) -> int:
    from chatlib.tools.smoke import SmokeTarget, run_smoke, target_for_stack

    if args.url and args.step and not (args.stack or args.table or args.secret_id):
        target = _smoke_target(lambda: SmokeTarget(args.url, args.step))  # clients only
    else:
        state = _point_boto3(args) or {}
        stack_name, url = args.stack, args.url
        if stack_name is None and url is None:
            if not state:
                raise CommandError("give the URL and --step, or --stack NAME")
            stack_name, url = state["stack"], state["websocket_url"]  # `serve`'s, on loopback
        target = _smoke_target(
            lambda: target_for_stack(
                stack_name, url=url, step=args.step, table=args.table, secret_id=args.secret_id
            )
        )
    print(f"smoke test of {target.url} ({target.step} step)")
    checks = run_smoke(target)
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if check.passed is False]
    held = sum(check.passed is True for check in checks)
    skipped = sum(check.passed is None for check in checks)
    verdict = f"FAILED: {', '.join(failed)}" if failed else "the chat works"
    print(f"{verdict} ({held} checks held, {len(failed)} failed, {skipped} skipped)")
    return 1 if failed else 0


def _smoke_target(make):
    try:
        return make()
    except ValueError as error:
        raise CommandError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "serve": serve,
        "chat": chat,
        "rooms": rooms,
        "token": token,
        "logs": logs,
        "rotate-secret": rotate_secret,
        "smoke": smoke,
        "deploy": deploy,
        "teardown": teardown,
    }
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # AWS unreachable, no region, no credentials, the stack gone…
        problem = _one_line(error)
        if problem is None:
            raise
        print(f"chatlib-local {args.command}: {problem}", file=sys.stderr)
        return 1


def _one_line(error: Exception) -> str | None:
    """What to tell a person about an error from boto3 or chatlib, or ``None`` (a bug)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    from chatlib.errors import ChatlibError

    if isinstance(error, ChatlibError):
        return error.message
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: has the stack stopped?"
    if isinstance(error, NoRegionError):
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or run `serve` locally"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE or the AWS_* variables"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"AWS answered {details.get('Code')}: {details.get('Message')}"
    if isinstance(error, BotoCoreError | ConnectionError):
        return str(error)
    return None
