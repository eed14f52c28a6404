"""A chat in the terminal: what wscat is in the source articles, for this chat's protocol.

    chatlib-local chat [URL] --room lobby --user alice [--token T | --subprotocol P]

Incoming frames are printed as they arrive while you type; each line you enter is sent as a
chat message; ``/raw {json}`` sends any frame as it is (to try routes and bad input);
``/quit``, Ctrl-D or Ctrl-C leave cleanly. Without a URL it joins the stack that
``chatlib-local serve`` is running. The same command works against a real deployment's
``wss://`` URL.
"""

from __future__ import annotations

import json
import threading
from typing import IO, Any

import websocket

from chatlib.tools.client import ChatClient

__all__ = ["describe_frame", "run_chat"]

HELP = "Type a message and Enter. /raw {json} sends any frame; /quit or Ctrl-D leaves."


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
    closed = threading.Event()
    try:
        threading.Thread(target=_print_incoming, args=(client, say, closed), daemon=True).start()
        say(f"connected to room {room_id!r} as {user_id!r}. {HELP}")
        for raw in stdin:
            line = raw.rstrip("\n")
            if closed.is_set():
                break
            if line.strip() in {"/quit", "/exit"}:
                break
            if line.startswith("/raw "):
                client.send_raw(line[len("/raw ") :])
            elif line.strip():
                client.send(line)
    except KeyboardInterrupt:
        pass
    except websocket.WebSocketConnectionClosedException:
        say("the connection is closed")
    finally:
        closed.set()
        try:
            client.close()
        except Exception:
            pass
    say("bye")
    return 0


def _print_incoming(client: ChatClient, say: Any, closed: threading.Event) -> None:
    client.ws.settimeout(None)
    while not closed.is_set():
        try:
            opcode, data = client.ws.recv_data(control_frame=True)
        except Exception:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            say(f"the server closed the connection ({code} {data[2:].decode(errors='replace')})")
            break
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            try:
                frame = json.loads(data)
            except ValueError:
                frame = data.decode("utf-8", errors="replace")
            say(describe_frame(frame))
    closed.set()


def _reason(status: int) -> str:
    return {
        400: "bad request: check roomId and userId",
        401: "unauthorized: a token is missing or invalid",
        403: "forbidden: the authorizer denied this connection",
        500: "the server failed; see its logs",
    }.get(status, "refused")
