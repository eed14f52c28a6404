"""A small chat client over websocket-client, for notebooks, tests and terminals.

It speaks the chat's protocol (``{"action": "sendmessage", "message": …}`` out, JSON frames
in) to any deployment, local or on AWS: only the URL differs.
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlencode

import websocket

__all__ = ["ChatClient"]


class ChatClient:
    """One WebSocket connection to the chat."""

    def __init__(self, ws: websocket.WebSocket, *, room_id: str | None, user_id: str | None):
        self.ws = ws
        self.room_id = room_id
        self.user_id = user_id

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        room_id: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 10,
    ) -> ChatClient:
        """Open a connection; raises ``websocket.WebSocketBadStatusException`` (with
        ``status_code``) when ``$connect`` or the authorizer refuses it."""
        query = {
            k: v for k, v in {"roomId": room_id, "userId": user_id, "token": token}.items() if v
        }
        full_url = url + ("?" + urlencode(query) if query else "")
        ws = websocket.create_connection(full_url, timeout=timeout, subprotocols=subprotocols)
        return cls(ws, room_id=room_id, user_id=user_id)

    def send(self, message: str) -> None:
        self.send_raw({"action": "sendmessage", "message": message})

    def send_raw(self, frame: str | dict[str, Any]) -> None:
        """Send a frame as given; a dict is sent as compact UTF-8 JSON (not \\u escapes,
        which would triple the size of non-ASCII text against the 32 KB frame limit)."""
        if not isinstance(frame, str):
            frame = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        self.ws.send(frame)

    def receive(self, timeout: float = 5) -> Any:
        """The next frame, JSON-decoded where it is JSON; ``TimeoutError`` if none comes."""
        self.ws.settimeout(timeout)
        try:
            data = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            raise TimeoutError(f"no frame within {timeout} s") from None
        try:
            return json.loads(data)
        except ValueError:
            return data

    def receive_all(self, quiet_for: float = 0.3) -> list[Any]:
        """Every frame that arrives until none has come for ``quiet_for`` seconds."""
        frames = []
        while True:
            try:
                frames.append(self.receive(timeout=quiet_for))
            except TimeoutError:
                return frames

    def read_arriving(self) -> Any | None:
        """Read the frame that is arriving now (for callers that poll sockets with select):
        a data frame, JSON-decoded where it is JSON, or ``None`` for a ping or pong, which
        websocket-client answers by itself."""
        opcode, data = self.ws.recv_data(control_frame=True)
        if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data

    def whoami(self) -> dict[str, Any]:
        """Ask ``$default`` what the server knows of this connection."""
        self.send_raw({"action": "whoami"})
        return self.receive()["connection"]

    def vanish(self) -> None:
        """Drop the connection without a close frame, like a laptop lid closing."""
        self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.ws.sock.close()

    def close(self, status: int = 1000, reason: str = "") -> None:
        self.ws.close(status=status, reason=reason.encode())

    @property
    def subprotocol(self) -> str | None:
        return self.ws.getsubprotocol()
