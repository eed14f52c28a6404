"""Many small HTTP requests to one server, up to ``window`` of them in flight, from one thread.

A fan-out sends the same frame to every member of a room: one ``@connections`` POST each.
Here each request goes out on a kept-alive :mod:`http.client` connection of its own, and
the thread then waits (:mod:`selectors`) for whichever answer comes first and gives that
connection the next request. One thread and no hand-offs: with a pool of threads, one per
connection, a local fan-out spent more time passing the GIL between threads than posting
(10 posts: 2.3 ms with 8 threads, 0.8 ms this way; ``docs/performance.md``).

Connections are kept between calls, so a warm Lambda instance reuses them (on AWS each new
one costs a TLS handshake). Before one is reused, it is checked: a connection that became
readable while idle has been closed by the server (or sent something nobody asked for), so
it is replaced. Missing connections are opened concurrently, so a cold instance waits for one
handshake rather than ``window`` of them in a row. A request whose kept-alive connection
still turns out to be closed is sent once more on a new connection, as botocore does.
"""

from __future__ import annotations

import functools
import http.client
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["HttpWindow", "Reply", "Request"]

_OUT_OF_TIME = "not sent or not answered within the delivery's time budget"

#: Errors that mean "the server closed this kept-alive connection meanwhile".
_CLOSED_MEANWHILE = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage


class HttpWindow:
    """Send requests to ``scheme://host:port`` over at most ``window`` kept-alive connections.

    ``timeout`` bounds every wait: connecting, sending, and waiting for the next answer.
    Safe to share between threads: each call checks connections out and back in.
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        window: int,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context``: for ``https``, the context to verify the server with (default:
        the system's trusted certificates, as ``http.client`` does)."""
        self._connection_class: Callable[..., http.client.HTTPConnection] = (
            functools.partial(http.client.HTTPSConnection, context=ssl_context)
            if scheme == "https"
            else http.client.HTTPConnection
        )
        self._host, self._port = host, port
        self.window = max(1, window)
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def exchange(
        self,
        keys: Iterable[str],
        build: Callable[[str], Request],
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Reply | Exception]:
        """One request per key (distinct keys; ``build(key)`` makes it just before it is sent);
        each key's reply, or the error that stopped it (an ``OSError``, an ``http.client``
        error).

        ``deadline`` (a ``clock()`` time): no request is sent, resent or waited for after it;
        the keys it leaves unanswered get a :class:`TimeoutError`. A step already under way
        (one connect, send or read, each bounded by the timeout) may end after it.
        """
        queue = deque(keys)
        answers: dict[str, Reply | Exception] = {}
        expired = (lambda: False) if deadline is None else (lambda: clock() >= deadline)
        if queue and expired():
            return {key: TimeoutError(_OUT_OF_TIME) for key in queue}
        reused, new = self._check_out(min(self.window, len(queue)))
        connections = reused + new
        remaining = (lambda: None) if deadline is None else (lambda: max(0.0, deadline - clock()))
        exchange = _Exchange(build, answers, connections, new, self.timeout, expired, remaining)
        try:
            while queue or exchange.in_flight():
                while queue and exchange.free and not expired():
                    exchange.send(exchange.free.pop(), queue.popleft(), may_resend=True)
                if queue and expired():
                    for key in queue:
                        answers[key] = TimeoutError(_OUT_OF_TIME)
                    queue.clear()
                exchange.wait()
        finally:
            exchange.close()
            self._check_in(connections)
        return answers

    def close(self) -> None:
        """Close every idle connection (a later call opens new ones)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _check_out(
        self, count: int
    ) -> tuple[list[http.client.HTTPConnection], list[http.client.HTTPConnection]]:
        """``count`` connections: the idle ones still open, and new ones."""
        with self._lock:
            taken = [self._idle.pop() for _ in range(min(count, len(self._idle)))]
        _close_the_closed(taken)
        connections = [c for c in taken if c.sock is not None]
        new = [
            self._connection_class(self._host, self._port, timeout=self.timeout)
            for _ in range(count - len(connections))
        ]
        if len(new) > 1:  # connect (and on AWS, shake hands) at the same time
            with ThreadPoolExecutor(len(new)) as pool:
                list(pool.map(_try_to_connect, new))
        return connections, new

    def _check_in(self, connections: list[http.client.HTTPConnection]) -> None:
        with self._lock:
            self._idle.extend(c for c in connections if c.sock is not None)


def _close_the_closed(connections: list[http.client.HTTPConnection]) -> None:
    """Close the idle connections the server has closed (or sent bytes nobody asked for)."""
    with selectors.DefaultSelector() as selector:
        for connection in connections:
            if connection.sock is not None:
                selector.register(connection.sock, selectors.EVENT_READ, connection)
        if selector.get_map():
            for key, _ in selector.select(0):
                if _closed_by_server(key.fileobj):
                    key.data.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether a readable idle socket is done for. A TLS 1.3 server's session tickets make a
    healthy one readable too: reading consumes them and finds no data (``SSLWantReadError``)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1)  # b"": end of file; anything else: bytes nobody asked for
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
    return True


def _try_to_connect(connection: http.client.HTTPConnection) -> None:
    try:
        connection.connect()
    except OSError:
        connection.close()  # the request tries once more, and reports the error for its key


class _Exchange:
    """The state of one :meth:`HttpWindow.exchange`: which connection waits for which key."""

    def __init__(
        self,
        build: Callable[[str], Request],
        answers: dict[str, Reply | Exception],
        connections: list[http.client.HTTPConnection],
        new: list[http.client.HTTPConnection],
        timeout: float,
        expired: Callable[[], bool],
        remaining: Callable[[], float | None],
    ) -> None:
        self._build, self._answers, self._timeout = build, answers, timeout
        self._expired, self._remaining = expired, remaining
        self.free = list(connections)
        self._unused = {id(connection) for connection in new}  # connected, nothing sent yet
        self._selector = selectors.DefaultSelector()

    def in_flight(self) -> bool:
        return bool(self._selector.get_map())

    def send(self, connection: http.client.HTTPConnection, key: str, *, may_resend: bool) -> None:
        kept_alive = connection.sock is not None and id(connection) not in self._unused
        self._unused.discard(id(connection))
        request = self._build(key)
        try:
            connection.request(
                request.method, request.path, body=request.body, headers=request.headers
            )
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            if kept_alive and may_resend and not self._expired():
                self.send(connection, key, may_resend=False)  # now on a new connection
            else:
                self._done(connection, key, error)
            return
        resendable = kept_alive and may_resend
        self._selector.register(
            connection.sock, selectors.EVENT_READ, (connection, key, resendable)
        )

    def wait(self) -> None:
        """Take every answer that has arrived; if none comes within the timeout (or before
        the deadline), give up on every request in flight."""
        if not self.in_flight():
            return
        remaining = self._remaining()
        wait = self._timeout if remaining is None else min(self._timeout, remaining)
        ready = self._selector.select(wait)
        if not ready:
            reason = _OUT_OF_TIME if self._expired() else None
            for key in list(self._selector.get_map().values()):
                connection, waiting_for, _ = key.data
                self._selector.unregister(key.fileobj)
                connection.close()
                error = TimeoutError(reason or f"no answer within {self._timeout} s")
                self._done(connection, waiting_for, error)
            return
        for key, _ in ready:
            self._selector.unregister(key.fileobj)
            connection, waiting_for, resendable = key.data
            if self._expired():  # reading may take a timeout each: the budget is spent
                connection.close()
                self._done(connection, waiting_for, TimeoutError(_OUT_OF_TIME))
                continue
            self._receive(connection, waiting_for, resendable)

    def _receive(self, connection: http.client.HTTPConnection, key: str, resendable: bool) -> None:
        try:
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            if resendable and isinstance(error, _CLOSED_MEANWHILE) and not self._expired():
                self.send(connection, key, may_resend=False)
            else:
                self._done(connection, key, error)
            return
        self._done(connection, key, Reply(response.status, response.msg))

    def _done(
        self, connection: http.client.HTTPConnection, key: str, answer: Reply | Exception
    ) -> None:
        self._answers[key] = answer
        self.free.append(connection)

    def close(self) -> None:
        for key in list(self._selector.get_map().values()):
            key.data[0].close()  # interrupted: an answer may still be on its way
        self._selector.close()
