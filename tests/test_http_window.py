"""The fan-out's transport: a bounded window of kept-alive connections, served from one thread.

Every test runs against a real HTTP server on 127.0.0.1 (a ``ThreadingHTTPServer`` that can be
told to be slow, to hang up, or never to answer), so connections, reuse and hang-ups are real.
"""

from __future__ import annotations

import datetime
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatlib.http_window import HttpWindow, Reply, Request, _closed_by_server, _Exchange


class Behaviour:
    """What the test server does; the tests change it and read what it saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delay = 0.0
        self.close_after_answer = False
        self.hang_up_on: set[str] = set()  # paths: read the request, close without answering
        self.never_answer: set[str] = set()
        self.connections = 0
        self.requests: list[str] = []
        self.active = self.peak = 0


@contextmanager
def serving(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with behaviour.lock:
                behaviour.connections += 1

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with behaviour.lock:
                behaviour.requests.append(self.path)
                behaviour.active += 1
                behaviour.peak = max(behaviour.peak, behaviour.active)
                hang_up = self.path in behaviour.hang_up_on
                behaviour.hang_up_on.discard(self.path)  # once
            try:
                if hang_up:
                    self.close_connection = True
                    return
                if self.path in behaviour.never_answer:
                    time.sleep(1.0)
                    self.close_connection = True
                    return
                time.sleep(behaviour.delay)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                self.close_connection = behaviour.close_after_answer
            finally:
                with behaviour.lock:
                    behaviour.active -= 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def behaviour() -> Behaviour:
    return Behaviour()


@pytest.fixture
def port(behaviour) -> Iterator[int]:
    with serving(behaviour) as port:
        yield port


def post(key: str) -> Request:
    return Request("POST", f"/{key}", key.encode(), {"Content-Type": "text/plain"})


def statuses(answers: dict) -> dict[str, object]:
    return {
        key: answer.status if isinstance(answer, Reply) else type(answer)
        for key, answer in answers.items()
    }


def test_every_key_gets_its_answer_and_never_more_than_the_window_are_in_flight(port, behaviour):
    behaviour.delay = 0.02
    window = HttpWindow("http", "127.0.0.1", port, window=4, timeout=5)
    keys = [f"k{n}" for n in range(24)]
    answers = window.exchange(keys, post)
    assert statuses(answers) == dict.fromkeys(keys, 200)
    assert sorted(behaviour.requests) == sorted(f"/{key}" for key in keys)
    assert behaviour.peak == 4  # concurrent, and bounded


def test_connections_are_kept_between_calls(port, behaviour):
    window = HttpWindow("http", "127.0.0.1", port, window=4, timeout=5)
    for _ in range(3):
        answers = window.exchange([f"k{n}" for n in range(10)], post)
        assert set(statuses(answers).values()) == {200}
    assert behaviour.connections == 4
    window.close()


def test_an_idle_connection_the_server_closed_is_replaced_before_a_request_is_risked_on_it(
    port, behaviour, monkeypatch
):
    behaviour.close_after_answer = True  # as a server does with connections it times out
    window = HttpWindow("http", "127.0.0.1", port, window=2, timeout=5)
    window.exchange(["a", "b"], post)
    time.sleep(0.05)  # the server's FINs arrive
    resent = []
    original_send = _Exchange.send

    def send(self, connection, key, *, may_resend):
        if not may_resend:
            resent.append(key)
        original_send(self, connection, key, may_resend=may_resend)

    monkeypatch.setattr(_Exchange, "send", send)
    answers = window.exchange(["c", "d"], post)
    assert statuses(answers) == {"c": 200, "d": 200}
    assert resent == []  # the dead connections were never written to
    assert behaviour.connections == 4


def test_a_kept_alive_connection_that_hangs_up_is_retried_once_on_a_new_one(port, behaviour):
    window = HttpWindow("http", "127.0.0.1", port, window=1, timeout=5)
    window.exchange(["warm"], post)
    behaviour.hang_up_on = {"/x"}  # closes as the request arrives, like a server timing it out
    answers = window.exchange(["x", "y"], post)
    assert statuses(answers) == {"x": 200, "y": 200}
    assert behaviour.requests == ["/warm", "/x", "/x", "/y"]


def test_a_new_connection_that_hangs_up_is_an_error_for_that_key_only(port, behaviour):
    window = HttpWindow("http", "127.0.0.1", port, window=2, timeout=5)
    behaviour.hang_up_on = {"/x"}
    answers = window.exchange(["x", "y", "z"], post)
    assert statuses(answers) == {
        "x": http.client.RemoteDisconnected, "y": 200, "z": 200
    }  # fmt: skip
    assert behaviour.requests.count("/x") == 1  # not sent twice: it may have been delivered


def test_no_answer_within_the_timeout_gives_up_on_that_key_only(port, behaviour):
    behaviour.never_answer = {"/slow"}
    window = HttpWindow("http", "127.0.0.1", port, window=2, timeout=0.3)
    started = time.monotonic()
    answers = window.exchange(["slow", "a", "b", "c"], post)
    assert time.monotonic() - started < 1.0
    assert statuses(answers) == {"slow": TimeoutError, "a": 200, "b": 200, "c": 200}


def test_a_server_that_is_not_there_is_an_error_per_key_not_an_exception():
    with serving(Behaviour()) as port:
        pass  # the port is free again
    window = HttpWindow("http", "127.0.0.1", port, window=2, timeout=1)
    answers = window.exchange(["a", "b", "c"], post)
    assert set(statuses(answers).values()) == {ConnectionRefusedError}


def test_threads_can_share_one_window(port, behaviour):
    window = HttpWindow("http", "127.0.0.1", port, window=3, timeout=5)
    results: dict[int, dict] = {}

    def run(n: int) -> None:
        results[n] = statuses(window.exchange([f"t{n}-{k}" for k in range(15)], post))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [set(results[n].values()) for n in range(4)] == [{200}] * 4
    assert len(behaviour.requests) == 60 == len(set(behaviour.requests))


# -- TLS, as on AWS ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts it (and only it)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


@pytest.fixture
def tls_port(behaviour, tls_contexts) -> Iterator[int]:
    with serving(behaviour, tls=tls_contexts[0]) as port:
        yield port


def test_over_tls_connections_are_verified_and_kept(tls_port, behaviour, tls_contexts):
    window = HttpWindow(
        "https", "127.0.0.1", tls_port, window=3, timeout=5, ssl_context=tls_contexts[1]
    )
    for _ in range(3):
        answers = window.exchange([f"k{n}" for n in range(9)], post)
        assert set(statuses(answers).values()) == {200}
    assert behaviour.connections == 3
    untrusting = HttpWindow("https", "127.0.0.1", tls_port, window=1, timeout=5)
    assert statuses(untrusting.exchange(["k"], post)) == {"k": ssl.SSLCertVerificationError}


def test_a_tls_13_session_ticket_does_not_look_like_a_closed_connection(tls_port, tls_contexts):
    connection = http.client.HTTPSConnection(
        "127.0.0.1", tls_port, timeout=5, context=tls_contexts[1]
    )
    connection.connect()
    assert connection.sock.version() == "TLSv1.3"
    # the server sends its session tickets after the handshake: the idle socket is readable
    assert _readable(connection.sock)
    assert not _closed_by_server(connection.sock)
    assert connection.sock.gettimeout() == 5  # restored
    connection.close()


def test_a_tls_connection_the_server_closed_is_seen_as_closed(tls_port, behaviour, tls_contexts):
    behaviour.close_after_answer = True
    connection = http.client.HTTPSConnection(
        "127.0.0.1", tls_port, timeout=5, context=tls_contexts[1]
    )
    connection.request("POST", "/bye", body=b"")
    assert connection.getresponse().read() == b"ok"
    time.sleep(0.05)  # the server's close_notify and FIN arrive
    assert _closed_by_server(connection.sock)


def _readable(sock: socket.socket) -> bool:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(1))
