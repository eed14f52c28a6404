"""A chat in the terminal: what wscat is in the source articles, for this chat's protocol.

    chatlib-local chat [URL] --room lobby --user alice [--token T | --subprotocol P]

Incoming frames are printed as they arrive while you type; each line you enter is sent as a
chat message; ``/raw {json}`` sends any frame as it is (to try routes and bad input);
``/help`` lists the commands; ``/quit``, Ctrl-D or Ctrl-C leave cleanly, and the chat ends by
itself when the server goes away. Without a URL it joins the stack that
``chatlib-local serve`` is running. The same command works against a real deployment's
``wss://`` URL.
"""

from __future__ import annotations

import _thread
import json
import signal
import threading
from collections.abc import Callable
from typing import IO, Any

import jwt
import websocket

from chatlib.tools.client import ChatClient

__all__ = ["describe_frame", "run_chat"]

HELP = "Type a message and Enter. /help lists the commands; /quit or Ctrl-D leaves."
COMMANDS = """commands:
  <text>        send <text> to your room
  /raw {json}   send any frame as it is, e.g. /raw {"action": "dance"}
  /help         this list
  /quit         leave (Ctrl-D and Ctrl-C too)"""


def describe_frame(frame: Any) -> str:
    """One line for a frame, the way a person wants to read it."""
    if not isinstance(frame, dict):
        return f"<< {frame}"
    kind = frame.get("type")
    if kind == "message":
        return f"[{frame.get('roomId')}] {frame.get('sender')}: {frame.get('message')}"
    if kind == "error":
        return f"! {frame.get('error')}: {frame.get('message')}"
    if kind == "help":
        actions = ", ".join(frame.get("validActions") or [])
        example = json.dumps(frame.get("example"))
        return f"? {frame.get('message')}; valid actions: {actions}; e.g. {example}"
    return f"<< {json.dumps(frame, ensure_ascii=False)}"


def run_chat(
    url: str,
    *,
    room_id: str | None,
    user_id: str | None,
    token: str | None = None,
    subprotocol: str | None = None,
    stdin: IO[str],
    stdout: IO[str],
) -> int:
    """Chat until the person leaves (0) or the server goes away (1)."""

    def say(line: str) -> None:
        stdout.write(line + "\n")
        stdout.flush()

    try:
        client = ChatClient.connect(
            url,
            room_id=room_id,
            user_id=user_id,
            token=token,
            subprotocols=[subprotocol] if subprotocol else None,
        )
    except websocket.WebSocketBadStatusException as refused:
        say(
            f"could not connect: the server answered HTTP {refused.status_code}"
            f" ({_reason(refused.status_code)})"
        )
        return 1
    except (ConnectionRefusedError, OSError) as error:
        say(f"could not connect to {url}: {error.strerror or error} (is the stack running?)")
        return 1
    except websocket.WebSocketException as error:
        say(f"could not connect: {error}")
        return 1
    session = _Session(client, say)
    who = user_id or _user_in_token(token or subprotocol)
    restore = session.wake_on_server_gone()
    try:
        session.start()
        say(f"connected to room {room_id!r} as {who!r}. {HELP}")
        for raw in stdin:
            if session.ended.is_set() or not session.command(raw.rstrip("\n")):
                break
    except KeyboardInterrupt:
        pass
    except websocket.WebSocketConnectionClosedException:
        session.ended.set()
    finally:
        session.leave()
        restore()
    if session.server_gone:
        say("the chat has ended: the server is gone")
    say("bye")
    return 1 if session.server_gone else 0


class _Session:
    """One chat connection: a thread prints what arrives while the main thread reads lines.

    When the server goes away the main thread is woken (it may be waiting for a line), so the
    chat ends at once instead of at the next Enter."""

    def __init__(self, client: ChatClient, say: Callable[[str], None]) -> None:
        self.client, self.say = client, say
        self.ended = threading.Event()
        self.leaving = False
        self.server_gone = False
        self._wake: Callable[[], None] = lambda: None

    def wake_on_server_gone(self) -> Callable[[], None]:
        """When the server goes away, interrupt the main thread's wait for a line (as Ctrl-C
        does), if the chat runs in the main thread and Ctrl-C is Python's to handle. Returns
        what puts the Ctrl-C handling back."""
        main = threading.main_thread()
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is not main or previous is not signal.default_int_handler:
            return lambda: None

        def interrupt(signum: int, frame: Any) -> None:
            if not self.leaving:  # once leaving, the chat is already on its way out
                raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupt)
        if hasattr(signal, "pthread_kill"):
            self._wake = lambda: signal.pthread_kill(main.ident or 0, signal.SIGINT)
        else:
            self._wake = _thread.interrupt_main
        return lambda: signal.signal(signal.SIGINT, previous)

    def start(self) -> None:
        threading.Thread(target=self._print_incoming, daemon=True).start()

    def command(self, line: str) -> bool:
        """Act on one line; ``False`` to leave."""
        stripped = line.strip()
        if stripped in {"/quit", "/exit"}:
            return False
        if stripped in {"/help", "/?"}:
            self.say(COMMANDS)
        elif stripped == "/raw" or line.startswith("/raw "):
            frame = line[len("/raw") :].strip()
            if frame:
                self.client.send_raw(frame)
            else:
                self.say('usage: /raw {json}, e.g. /raw {"action": "dance"}')
        elif stripped.startswith("/") and " " not in stripped:
            self.say(f"unknown command {stripped}: /help lists the commands")
        elif stripped:
            self.client.send(line)
        return True

    def leave(self) -> None:
        self.leaving = True
        self.ended.set()
        try:
            self.client.close()
        except Exception:
            pass

    def _print_incoming(self) -> None:
        self.client.ws.settimeout(None)
        while not self.ended.is_set():
            try:
                opcode, data = self.client.ws.recv_data(control_frame=True)
            except Exception:
                self._server_went_away("the connection to the server was lost")
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                reason = data[2:].decode(errors="replace")
                self._server_went_away(f"the server closed the connection ({code} {reason})")
                return
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                try:
                    frame = json.loads(data)
                except ValueError:
                    frame = data.decode("utf-8", errors="replace")
                self.say(describe_frame(frame))

    def _server_went_away(self, why: str) -> None:
        if self.leaving:  # our own /quit or Ctrl-D: the close is the answer to ours
            return
        self.server_gone = True
        self.say(why.rstrip())
        self.ended.set()
        self._wake()


def _user_in_token(token: str | None) -> str | None:
    """The user a token names (``sub``), read without verifying it: for display only; the
    server verifies it."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return str(claims["sub"]) if isinstance(claims, dict) and "sub" in claims else None


def _reason(status: int) -> str:
    return {
        400: "bad request: check roomId and userId",
        401: "unauthorized: the token is missing, invalid or expired, or the URL has no roomId",
        403: "forbidden: the authorizer denied this connection",
        500: "the server failed; see its logs",
    }.get(status, "refused")
