"""A class on a network: the addresses learners use, and a token and join link per learner.

**Addresses.** ``serve --host`` binds one address, or every interface (``0.0.0.0``). Learners
must be given an address that is both served and on their network: with a specific address,
that address (the default route's, which serve once printed, may belong to another
interface, where nothing listens); with every interface, each interface's own address, one
link each, as learners on different networks (a lab's wired and wireless, say) need different
ones (:func:`learner_addresses`).

**Tokens.** One per learner from a roster, each delivered as a join link.

A roster is a text file, one learner a line: a user id, then the rooms that learner may join
(``alice blue green``); a line without rooms gets the rooms given on the command line; blank
lines and ``#`` comments are skipped. Each learner's link opens the browser chat page with the
token in the URL *fragment* (``…/chat?url=…&room=blue#token=eyJ…``): a browser never sends a
fragment to a server, so the token reaches no server log, and the page reads it from there
and then removes it from the address bar.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

__all__ = [
    "Learner",
    "interface_addresses",
    "is_loopback",
    "join_link",
    "lan_address",
    "learner_addresses",
    "read_roster",
    "write_join_links",
]

#: ``ioctl`` requests for an interface's IPv4 address (``SIOCGIFADDR``), where they exist.
_SIOCGIFADDR = {"linux": 0x8915, "darwin": 0xC0206921}
#: The addresses that mean "every interface".
EVERY_INTERFACE = {"0.0.0.0", "::", ""}


def interface_addresses() -> list[tuple[str, str]]:
    """``(interface, IPv4 address)`` for each interface that has one, loopback left out, in
    the system's interface order; from the standard library alone.

    Linux and macOS: each interface's address from ``ioctl(SIOCGIFADDR)`` (its primary
    address; the same call ``ifconfig`` makes). Elsewhere (Windows): what this machine's
    host name resolves to, which there is every interface's address (names unknown: "").
    """
    found: list[tuple[str, str]] = []
    request = _SIOCGIFADDR.get(sys.platform)
    if request is not None:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                asked = struct.pack("256s", name.encode()[:15])
                try:
                    answer = fcntl.ioctl(probe.fileno(), request, asked)
                except OSError:  # no IPv4 address (or the interface went away)
                    continue
                found.append((name, socket.inet_ntoa(answer[20:24])))
    else:
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        except OSError:
            infos = []
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            found.append(("", address))
    return [(name, a) for name, a in found if not ipaddress.ip_address(a).is_loopback]


def lan_address() -> str:
    """The source address of this machine's route out (a UDP socket's connect sends
    nothing); loopback when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never reached, only routed
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def learner_addresses(
    host: str,
    advertise: str | None = None,
    *,
    interfaces: Callable[[], list[tuple[str, str]]] = interface_addresses,
    route_out: Callable[[], str] = lan_address,
) -> list[tuple[str, str]]:
    """``(where, address)`` for each link learners are given when serve listens on ``host``:
    ``advertise`` if given (a host name, a NAT's address: the instructor knows best); the
    address itself for a specific one; each interface's address for ``0.0.0.0`` or ``::``,
    the route out's first (the likeliest network). Empty for loopback, and when listening
    everywhere on a machine with no interface address but loopback."""
    if advertise:
        return [("--advertise", advertise)]
    if is_loopback(host):
        return []
    if host not in EVERY_INTERFACE:
        return [(host, host)]
    found = interfaces()
    first = route_out()
    found.sort(key=lambda pair: pair[1] != first)  # stable: the rest keep the system's order
    return found


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) answers this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Learner:
    user_id: str
    rooms: tuple[str, ...]


def read_roster(text: str, default_rooms: Iterable[str]) -> list[Learner]:
    """The learners a roster names; ``ValueError`` saying which line is unusable."""
    defaults = tuple(default_rooms)
    learners: list[Learner] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        rooms = tuple(words[1:]) or defaults
        if not rooms:
            raise ValueError(f"line {number} ({words[0]}) names no room, and no --room was given")
        learners.append(Learner(words[0], rooms))
    if not learners:
        raise ValueError("the roster names no learner")
    seen: set[str] = set()
    for learner in learners:
        if learner.user_id in seen:
            raise ValueError(f"{learner.user_id} is in the roster twice")
        seen.add(learner.user_id)
    return learners


def join_link(page_url: str, *, room: str, token: str) -> str:
    """The chat page for ``room``, with ``token`` in the fragment (never sent to a server)."""
    page = page_url.split("#", 1)[0]
    separator = "&" if "?" in page else "?"
    return f"{page}{separator}{urlencode({'room': room})}#{urlencode({'token': token})}"


def write_join_links(
    learners: list[Learner],
    *,
    page_url: str,
    out_dir: Path,
    mint: Callable[[Learner], str],
) -> list[Path]:
    """Mint a token per learner and write their join link to ``out_dir/<user>.txt``, readable
    by the owner only (the link is the learner's password until it expires)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for learner in learners:
        link = join_link(page_url, room=learner.rooms[0], token=mint(learner))
        path = out_dir / f"{learner.user_id}.txt"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(link + "\n")
        written.append(path)
    return written
