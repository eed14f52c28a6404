"""A smoke test for any deployed chat: the day-before check an instructor runs on a stack.

    chatlib-local smoke --stack chat --aws          # a stack on AWS: URL, table and secret found
    chatlib-local smoke wss://…/dev --step rooms    # any URL; no table, so no stale-row check

It speaks to the chat only as clients do (real WebSocket connections to the URL), plus, where
it was given the table, one row written directly: a connection that no longer exists, which the
next message must clean up on ``410 Gone``. Each check prints one line with its figure; the exit
status says whether every check held. The rooms it uses are new each run (``smoke-<hex>-a``),
so a class already chatting is not disturbed, and every connection it opens is closed.

What is checked, and at which step (the template's ``Step``):

========================  =========================================================  ==========
check                     holds when                                                 steps
========================  =========================================================  ==========
connect                   three clients connect (a token each at the auth step)      all
sender's copy             the sender gets its own message back                       all
same room                 another member of the room gets it                         all
rooms apart               a member of another room does not (broadcast: does)        all
$default                  an unknown action is answered by ``$default`` (help)       all
stale row                 a planted row for a gone connection is deleted (410)       with table
frame limit               a 33 KB frame closes the connection with 1009              all
missing token             a handshake without a token is refused (401/403)           auth
forged token              one signed with another secret is refused                  auth
expired token             one that expired an hour ago is refused                    auth
wrong room                one for room a, connecting to room b, is refused           auth
========================  =========================================================  ==========
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import websocket

from chatlib.tools.client import ChatClient

__all__ = ["Check", "SmokeTarget", "run_smoke", "STEPS"]

STEPS = ("broadcast", "rooms", "auth")
#: How long "nobody else got it" is waited for.
QUIET_SECONDS = 1.0
#: Over API Gateway's 32 KB frame limit.
OVERSIZED_FRAME_BYTES = 33 * 1024

#: Mints a token: (user id, rooms, seconds to live) -> JWT.
Minter = Callable[[str, list[str], int], str]
#: Writes a row for a connection that does not exist: (connection id, room, user).
RowPlanter = Callable[[str, str, str], None]
#: Whether the row of a connection id is still in the table.
RowReader = Callable[[str], bool]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: skipped, with the reason in ``detail``
    detail: str

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.passed]
        return f"{mark} {self.name:<14} {self.detail}"


@dataclass(frozen=True)
class SmokeTarget:
    """A deployed chat: its URL, its step, and what the smoke test may use beside clients."""

    url: str
    step: str
    mint: Minter | None = None
    plant_row: RowPlanter | None = None
    row_exists: RowReader | None = None

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"step must be one of {', '.join(STEPS)}, not {self.step!r}")
        if self.step == "auth" and self.mint is None:
            raise ValueError("the auth step needs a way to mint tokens (the stack's secret)")


class _Run:
    """One smoke run's connections and rooms."""

    def __init__(self, target: SmokeTarget, exits: ExitStack):
        self.target = target
        self.exits = exits
        tag = secrets.token_hex(3)
        self.room_a, self.room_b = f"smoke-{tag}-a", f"smoke-{tag}-b"

    def connect(self, room: str, user: str) -> tuple[ChatClient, float]:
        token = None
        if self.target.step == "auth":
            token = self.target.mint(user, [room], 600)
        started = time.perf_counter()
        client = ChatClient.connect(self.target.url, room_id=room, user_id=user, token=token)
        elapsed = (time.perf_counter() - started) * 1000
        self.exits.callback(_close_quietly, client)
        return client, elapsed


def run_smoke(target: SmokeTarget) -> list[Check]:
    """Every check that applies to ``target``, in order; a failing check does not stop the
    ones after it unless they need what it could not make (the three clients)."""
    with ExitStack() as exits:
        run = _Run(target, exits)
        try:
            ann, ann_ms = run.connect(run.room_a, "smoke-ann")
            ben, ben_ms = run.connect(run.room_a, "smoke-ben")
            cal, cal_ms = run.connect(run.room_b, "smoke-cal")
        except (websocket.WebSocketException, OSError) as error:
            return [Check("connect", False, f"a client could not connect: {_reason(error)}")]
        handshake = statistics.median([ann_ms, ben_ms, cal_ms])
        checks = [Check("connect", True, f"3 clients, handshake median {handshake:.0f} ms")]
        checks += _delivery(target, ann, ben, cal)
        checks.append(_default_route(ann))
        checks.append(_stale_row(target, run, ann))
        checks.append(_frame_limit(run))
        if target.step == "auth":
            checks += _token_refusals(target, run)
        return checks


def _delivery(target: SmokeTarget, ann: ChatClient, ben: ChatClient, cal: ChatClient):
    text = f"smoke {secrets.token_hex(4)}"
    started = time.perf_counter()
    ann.send(text)
    own = _wait_for(ann, text, timeout=5)
    other = _wait_for(ben, text, timeout=5)
    elapsed = {name: (at - started) * 1000 for name, at in (("own", own), ("other", other)) if at}
    stray = _wait_for(cal, text, timeout=QUIET_SECONDS)
    checks = [
        Check(
            "sender's copy",
            own is not None,
            f"back in {elapsed['own']:.0f} ms" if own else "never came back within 5 s",
        ),
        Check(
            "same room",
            other is not None,
            f"arrived within {elapsed['other']:.0f} ms" if other else "not delivered within 5 s",
        ),
    ]
    if target.step == "broadcast":
        checks.append(
            Check(
                "rooms apart",
                stray is not None,
                "broadcast step: the other room heard it, as this step does"
                if stray
                else "broadcast step, yet the other room did not hear it",
            )
        )
    else:
        checks.append(
            Check(
                "rooms apart",
                stray is None,
                f"the other room heard nothing in {QUIET_SECONDS:.0f} s"
                if stray is None
                else "LEAK: a member of another room got it",
            )
        )
    return checks


def _default_route(client: ChatClient) -> Check:
    client.send_raw({"action": "smoke-no-such-action"})
    try:
        frame = _next_frame(client, lambda f: isinstance(f, dict) and "type" in f, timeout=5)
    except TimeoutError:
        return Check("$default", False, "no answer to an unknown action within 5 s")
    if frame.get("type") == "help":
        return Check("$default", True, f"help frame, valid actions {frame.get('validActions')}")
    return Check("$default", False, f"answered {frame.get('type')!r}, not a help frame")


def _stale_row(target: SmokeTarget, run: _Run, sender: ChatClient) -> Check:
    if target.plant_row is None or target.row_exists is None:
        return Check("stale row", None, "no table access (give --table or --stack)")
    ghost = base64.b64encode(os.urandom(11)).decode().replace("+", "A").replace("/", "B")
    target.plant_row(ghost, run.room_a, "smoke-ghost")
    started = time.perf_counter()
    sender.send("is anyone stale?")
    deadline = started + 10
    while time.perf_counter() < deadline:
        if not target.row_exists(ghost):
            return Check(
                "stale row",
                True,
                f"deleted on 410 in {(time.perf_counter() - started) * 1000:.0f} ms",
            )
        time.sleep(0.05)
    return Check("stale row", False, "a row for a gone connection was still there after 10 s")


def _frame_limit(run: _Run) -> Check:
    try:
        big, _ = run.connect(run.room_a, "smoke-big")
        big.send_raw("x" * OVERSIZED_FRAME_BYTES)
        big.ws.settimeout(5)
        while True:
            opcode, data = big.ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                return Check(
                    "frame limit",
                    code == 1009,
                    f"a {OVERSIZED_FRAME_BYTES // 1024} KB frame closed it with {code}",
                )
    except websocket.WebSocketTimeoutException:
        return Check("frame limit", False, "a 33 KB frame was not refused within 5 s")
    except (websocket.WebSocketException, OSError) as error:
        return Check(
            "frame limit", False, f"the connection ended without a close: {_reason(error)}"
        )


def _token_refusals(target: SmokeTarget, run: _Run) -> list[Check]:
    from chatlib.tokens import mint_token

    forged = mint_token(secrets.token_urlsafe(32), user_id="smoke-eve", rooms=[run.room_a])
    attempts = [
        ("missing token", None, run.room_a),
        ("forged token", forged, run.room_a),
        ("expired token", target.mint("smoke-eve", [run.room_a], -3600), run.room_a),
        ("wrong room", target.mint("smoke-eve", [run.room_a], 600), run.room_b),
    ]
    checks = []
    for name, token, room in attempts:
        try:
            client = ChatClient.connect(target.url, room_id=room, user_id="smoke-eve", token=token)
        except websocket.WebSocketBadStatusException as refused:
            status = refused.status_code
            checks.append(Check(name, status in (401, 403), f"refused with {status}"))
            continue
        _close_quietly(client)
        checks.append(Check(name, False, "ACCEPTED: the handshake succeeded"))
    return checks


def _wait_for(client: ChatClient, text: str, *, timeout: float) -> float | None:
    """When a chat frame carrying ``text`` arrived (perf_counter), or ``None``."""
    try:
        _next_frame(client, lambda f: isinstance(f, dict) and f.get("message") == text, timeout)
    except TimeoutError:
        return None
    return time.perf_counter()


def _next_frame(client: ChatClient, wanted: Callable[[Any], bool], timeout: float) -> Any:
    deadline = time.perf_counter() + timeout
    while (left := deadline - time.perf_counter()) > 0:
        frame = client.receive(timeout=left)
        if wanted(frame):
            return frame
    raise TimeoutError


def _close_quietly(client: ChatClient) -> None:
    try:
        client.close()
    except (websocket.WebSocketException, OSError):
        pass


def _reason(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    return f"handshake refused with {status}" if status else str(error) or type(error).__name__


def target_for_stack(
    stack_name: str | None,
    *,
    url: str | None = None,
    step: str | None = None,
    table: str | None = None,
    secret_id: str | None = None,
) -> SmokeTarget:
    """A target from what boto3 can read: the stack's outputs (URL, table, secret) and its
    ``Step`` parameter fill in whatever is not given. With no stack, the URL and step must be
    given; the table and the secret then come only from ``table`` and ``secret_id``."""
    import boto3

    outputs: dict[str, str] = {}
    if stack_name is not None:
        from chatlib.deploy import stack_outputs

        outputs = stack_outputs(stack_name)
        if step is None:
            stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)
            parameters = {
                p["ParameterKey"]: p.get("ParameterValue")
                for p in stack["Stacks"][0].get("Parameters", [])
            }
            step = parameters.get("Step") or "rooms"  # the template's default
    url = url or outputs.get("WebSocketUrl")
    if url is None or step is None:
        raise ValueError("name the stack, or give the URL and the step")
    table = table or outputs.get("TableName")
    secret_id = secret_id or outputs.get("TokenSecretArn")
    mint = None
    if step == "auth" and secret_id:
        from chatlib.deploy import issue_token

        def mint(user: str, rooms: list[str], ttl: int) -> str:
            return issue_token(user_id=user, rooms=rooms, secret_id=secret_id, ttl_seconds=ttl)

    plant_row = row_exists = None
    if table:
        from chatlib.store import Connection, ConnectionStore

        store = ConnectionStore(table)

        def plant_row(connection_id: str, room: str, user: str) -> None:
            store.put(Connection.opened(connection_id, room, user, int(time.time() * 1000)))

        def row_exists(connection_id: str) -> bool:
            return store.get(connection_id) is not None

    return SmokeTarget(url, step, mint=mint, plant_row=plant_row, row_exists=row_exists)
