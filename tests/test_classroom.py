"""The instructor's first hour with ``chatlib-local``: a class on a LAN, tokens that survive a
restart and never show on the projected terminal, and one clear line when the stack is gone.

Traffic stays on this machine: the classroom ``serve`` is reached over 127.0.0.1 or over one of
this machine's own addresses, and the two-network case runs in a network namespace of its own.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pexpect
import pytest
from gateway_helpers import open_socket, receive_json, refused_status, wait_for
from test_cli import interrupted, read_until, serving

from chatlib.tools.classroom import (
    interface_addresses,
    join_link,
    lan_address,
    learner_addresses,
    read_roster,
)


def chatlib_local(environment, *arguments, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "chatlib.tools", *arguments],
        capture_output=True, text=True, env=environment, timeout=timeout,
    )  # fmt: skip


def token_from_link(link: str) -> str:
    return parse_qs(urlsplit(link).fragment)["token"][0]


def test_a_classroom_on_every_interface_with_join_links_and_a_restart(tmp_path):
    roster = tmp_path / "names.txt"
    roster.write_text("# the class\nalice blue\nbob\ncarol green blue\n")
    seen: list[str] = []
    with serving(tmp_path, "--step", "auth", "--host", "0.0.0.0") as (process, environment):
        match, lines = read_until(process, r"WebSocket URL : (ws://127\.0\.0\.1:\d+/\w+/dev)")
        url = match.group(1)
        seen += lines
        _, lines = read_until(process, r"learners open : http://\S+/chat\?url=ws")
        seen += lines
        _, lines = read_until(process, r"join links +: \S+chatlib-local token --roster")
        seen += lines
        assert any(re.search(r"\[ *\d+\.\d s\] starting the embedded AWS", line) for line in seen)
        assert any("ready in" in line for line in seen)
        state = json.loads((tmp_path / "chatlib" / "local-stack.json").read_text())

        made = chatlib_local(
            environment, "token", "--roster", str(roster), "--room", "lobby",
            "--out-dir", str(tmp_path / "links"),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "wrote 3 join links" in made.stdout and "eyJ" not in made.stdout + made.stderr
        links = {
            name: (tmp_path / "links" / f"{name}.txt").read_text().strip()
            for name in ("alice", "bob", "carol")
        }
        assert oct((tmp_path / "links" / "alice.txt").stat().st_mode & 0o777) == "0o600"
        assert links["bob"].startswith(state["chat_page_url"] + "&room=lobby#token=eyJ")
        alice_token = token_from_link(links["alice"])

        # a learner joins over loopback with the token from the link; it is never printed
        ws = open_socket(url, query=f"roomId=blue&token={alice_token}")
        _, lines = read_until(process, r"open +\S+ from 127\.0\.0\.1 \?roomId=blue&token=\*\*\*")
        seen += lines
        ws.send(json.dumps({"action": "whoami"}))
        assert receive_json(ws)["connection"]["userId"] == "alice"
        assert refused_status(url, query=f"roomId=green&token={alice_token}") == 403
        _, lines = read_until(process, r"refused 403 by the authorizer")
        seen += lines
        assert refused_status(url, query=f"token={alice_token}") == 401  # no roomId
        missing = r"refused 401 by the authorizer: the identity source \S+\.roomId is missing"
        _, lines = read_until(process, missing)
        seen += lines
        ws.close()

        # the terminal chat takes its token from a file and names the user in it
        (tmp_path / "carol.token").write_text(token_from_link(links["carol"]) + "\n")
        carol = pexpect.spawn(
            sys.executable,
            ["-m", "chatlib.tools", "chat", "--room", "green", "--token-file",
             str(tmp_path / "carol.token")],
            env=environment, encoding="utf-8", timeout=20,
        )  # fmt: skip
        carol.expect("connected to room 'green' as 'carol'")
        carol.sendline("hello green")
        carol.expect(r"\[green\] carol: hello green")
        _, lines = read_until(process, r"sendmessage -> 200 delivered: recipients 1, delivered 1")
        seen += lines

        # the functions' logs, from the embedded CloudWatch Logs
        def logged():  # the runtime ships log lines about once a second
            done = chatlib_local(environment, "logs", "sendmessage")
            assert done.returncode == 0, done.stderr
            return '"outcome": "ok"' in done.stdout and done.stdout

        logs = wait_for(logged, timeout=20, interval=0.5)
        assert re.search(r"START RequestId: \S+ Version: \$LATEST", logs)

        # serve stops: the chat ends by itself, without waiting for Enter
        assert interrupted(process) == 0
        seen += process.stdout.readlines()
        carol.expect("the chat has ended: the server is gone")
        carol.expect(pexpect.EOF)
        carol.close()
        assert carol.exitstatus == 1

    printed = "".join(seen)
    for token in map(token_from_link, links.values()):
        assert token not in printed
        assert token.split(".")[1] not in printed  # not even the claims

    # the local secret survives the restart: links made before it still let learners in
    with serving(tmp_path, "--step", "auth", "--quiet") as (process, environment):
        match, _ = read_until(process, r"WebSocket URL : (ws://127\.0\.0\.1:\d+/\w+/dev)")
        ws = open_socket(
            match.group(1), query=f"roomId=lobby&token={token_from_link(links['bob'])}"
        )
        ws.send(json.dumps({"action": "whoami"}))
        assert receive_json(ws)["connection"]["userId"] == "bob"
        ws.close()
        assert interrupted(process) == 0


def test_beyond_loopback_the_steps_without_authentication_are_refused(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    for step in ("rooms", "broadcast"):
        refused = chatlib_local(environment, "serve", "--step", step, "--host", "0.0.0.0")
        assert refused.returncode == 2
        assert refused.stdout == ""
        (line,) = refused.stderr.splitlines()
        assert f"refusing the {step} step on 0.0.0.0" in line and "--trust-network" in line
    assert not (tmp_path / "chatlib" / "local-stack.json").exists()


def test_without_a_stack_every_command_says_so_in_one_line(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    commands = [
        ("rooms",),
        ("token", "--user", "alice", "--room", "blue"),
        ("logs", "sendmessage"),
        ("chat", "--room", "blue", "--user", "alice"),
    ]

    def one_line(arguments):
        done = chatlib_local(environment, *arguments)
        assert done.returncode == 1, (arguments, done.stdout, done.stderr)
        (line,) = (done.stdout + done.stderr).splitlines()
        assert "Traceback" not in line
        return line

    for arguments in commands:  # never started
        assert "no local stack is running: start `/" in one_line(arguments)
    state = tmp_path / "chatlib" / "local-stack.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"pid": 2**22 + 1, "websocket_url": "ws://127.0.0.1:9/a/dev",
                                 "aws_endpoint_url": "http://127.0.0.1:9", "region": "us-east-1",
                                 "table": "t"}))  # fmt: skip
    for arguments in commands:  # killed without cleaning up
        assert "the local stack has stopped" in one_line(arguments)
    state.unlink()
    # real AWS without a region: one line too
    assert "no AWS region" in one_line(("token", "--aws", "--user", "alice", "--room", "blue"))


def test_a_roster_becomes_learners_and_links_carry_the_token_in_the_fragment():
    learners = read_roster("alice blue\n\n# comment\nbob  # no rooms: the default\n", ["lobby"])
    assert [(x.user_id, x.rooms) for x in learners] == [("alice", ("blue",)), ("bob", ("lobby",))]
    link = join_link("http://10.0.0.5:8080/chat?url=ws%3A%2F%2Fx", room="blue", token="a.b.c")
    parts = urlsplit(link)
    assert parse_qs(parts.query) == {"url": ["ws://x"], "room": ["blue"]}
    assert parts.fragment == "token=a.b.c"
    for bad in ("alice\n", "alice blue\nalice green\n", "# nobody\n"):
        try:
            read_roster(bad, [])
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


# -- the addresses learners are given ---------------------------------------------------------

INTERFACES = [("docker0", "172.17.0.1"), ("eth0", "10.0.0.5"), ("wlan0", "192.168.1.9")]


def test_learners_get_the_address_serve_listens_on_or_each_interfaces():
    def choose(host, advertise=None):
        return learner_addresses(
            host, advertise, interfaces=lambda: list(INTERFACES), route_out=lambda: "10.0.0.5"
        )

    # a specific address: that one, whatever the route out says
    assert choose("192.168.1.9") == [("192.168.1.9", "192.168.1.9")]
    # every interface: one per interface, the route out's first, the others in their order
    expected = [("eth0", "10.0.0.5"), ("docker0", "172.17.0.1"), ("wlan0", "192.168.1.9")]
    assert choose("0.0.0.0") == expected
    assert choose("::") == expected
    assert choose("0.0.0.0", advertise="class.example.org") == [
        ("--advertise", "class.example.org")
    ]
    for loopback in ("127.0.0.1", "::1", "localhost"):
        assert choose(loopback) == []
    nowhere = learner_addresses("0.0.0.0", interfaces=list, route_out=lambda: "127.0.0.1")
    assert nowhere == []


def test_each_interface_address_found_here_is_this_machines_own():
    found = interface_addresses()
    for name, address in found:
        assert not ipaddress.ip_address(address).is_loopback, (name, address)
        with socket.socket() as probe:
            probe.bind((address, 0))  # only an address of this machine can be bound
    route_out = lan_address()
    if not ipaddress.ip_address(route_out).is_loopback:
        assert route_out in [address for _, address in found]


def read_classroom(process) -> str:
    _, lines = read_until(process, r"Ctrl-C stops it")
    return "".join(lines)


def test_with_a_specific_host_the_learners_links_use_it(tmp_path):
    addresses = [address for _, address in interface_addresses()]
    if not addresses:
        pytest.skip("this machine has no address besides loopback")
    host = addresses[-1]
    with serving(tmp_path, "--step", "auth", "--host", host) as (process, environment):
        printed = read_classroom(process)
        assert f"classroom: listening on {host}; learners on this network use {host}" in printed
        (page,) = re.findall(r"learners open : (\S+)", printed)
        (url,) = re.findall(r"  WebSocket URL : (ws://\S+)\n(?=  join links)", printed)
        assert urlsplit(page).hostname == urlsplit(url).hostname == host
        assert parse_qs(urlsplit(page).query)["url"] == [url]
        token = chatlib_local(environment, "token", "--user", "alice", "--room", "lobby")
        ws = open_socket(url, query=f"roomId=lobby&token={token.stdout.strip()}")
        ws.send(json.dumps({"action": "whoami"}))
        assert receive_json(ws)["connection"]["userId"] == "alice"
        ws.close()
        assert interrupted(process) == 0


NAMESPACE_DRIVER = """
import json, os, re, signal, subprocess, sys
sys.path.insert(0, {tests!r})
from gateway_helpers import open_socket, receive_json, refused_status

def ip(*arguments):
    subprocess.run(["ip", *arguments], check=True)

def chatlib_local(*arguments, **options):
    return subprocess.Popen([sys.executable, "-m", "chatlib.tools", *arguments],
                            env=os.environ, text=True, **options)

def serve_and_join(host):
    serve = chatlib_local("serve", "--step", "auth", "--host", host, "--quiet",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    printed = ""
    for line in serve.stdout:
        printed += line
        if "Ctrl-C stops it" in line:
            break
    classroom = printed.split("classroom: ", 1)[1]
    token = chatlib_local("token", "--user", "alice", "--room", "lobby",
                          stdout=subprocess.PIPE).communicate()[0].strip()
    answers = {{}}
    for url in re.findall(r"WebSocket URL : (ws://\\S+)", classroom):
        ws = open_socket(url, query="roomId=lobby&token=" + token)
        ws.send(json.dumps({{"action": "whoami"}}))
        answers[url.split("/")[2]] = receive_json(ws)["connection"]["userId"]
        ws.close()
    port = url.split("/")[2].split(":")[1]
    try:
        elsewhere = refused_status("ws://10.99.1.1:" + port + "/x/dev")
    except OSError as error:
        elsewhere = type(error).__name__
    serve.send_signal(signal.SIGINT)
    return {{"heading": classroom.splitlines()[0],
            "pages": re.findall(r"learners open : http://([^/]+)/chat\\S*(.*)", classroom),
            "whoami": answers, "10.99.1.1": elsewhere, "status": serve.wait(60)}}

results = {{}}
ip("link", "set", "lo", "up")
results["alone"] = serve_and_join("0.0.0.0")  # no network but loopback
# two networks on one machine, the route out through the first
ip("link", "add", "class-a", "type", "veth", "peer", "name", "class-b")
ip("addr", "add", "10.99.1.1/24", "dev", "class-a")
ip("addr", "add", "10.99.2.1/24", "dev", "class-b")
ip("link", "set", "class-a", "up")
ip("link", "set", "class-b", "up")
ip("route", "add", "default", "dev", "class-a")
for host in ("10.99.2.1", "0.0.0.0"):
    results[host] = serve_and_join(host)
print(json.dumps(results))
"""


def network_namespace_problem() -> str | None:
    """Why this machine cannot give the test a network namespace of its own, or ``None``."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return "needs unshare and ip (util-linux, iproute2)"
    tried = subprocess.run(
        ["unshare", "-rn", "ip", "link", "add", "t-a", "type", "veth", "peer", "name", "t-b"],
        capture_output=True, text=True,
    )  # fmt: skip
    if tried.returncode != 0:
        return f"`unshare -rn` with a veth pair is not allowed here: {tried.stderr.strip()}"
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux's")
def test_in_a_network_namespace_with_two_networks_each_link_reaches_serve(tmp_path):
    """The case that failed in a classroom: serve on one interface printed links with the
    default route's address, on another interface, where nothing listened."""
    problem = network_namespace_problem()
    if problem:
        pytest.skip(problem)
    driver = tmp_path / "driver.py"
    driver.write_text(NAMESPACE_DRIVER.format(tests=os.path.dirname(__file__)))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, str(driver)],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.splitlines()[-1])

    alone = results["alone"]
    assert alone["heading"].startswith(
        "listening on 0.0.0.0; but this machine has no network address besides loopback"
    )
    assert [host.split(":")[0] for host, _ in alone["pages"]] == ["127.0.0.1"]
    assert list(alone["whoami"].values()) == ["alice"]
    assert alone["status"] == 0

    one = results["10.99.2.1"]
    assert one["heading"] == "listening on 10.99.2.1; learners on this network use 10.99.2.1"
    assert [host.split(":")[0] for host, _ in one["pages"]] == ["10.99.2.1"]
    assert list(one["whoami"].values()) == ["alice"]
    assert one["10.99.1.1"] == "ConnectionRefusedError"  # the route out's: nothing there
    assert one["status"] == 0

    every = results["0.0.0.0"]
    assert every["heading"] == (
        "listening on 0.0.0.0; learners use the address of the network they are on"
    )
    # one link per interface, the route out's first, each naming its interface
    assert [(host.split(":")[0], rest.strip()) for host, rest in every["pages"]] == [
        ("10.99.1.1", "(class-a)"),
        ("10.99.2.1", "(class-b)"),
    ]
    assert sorted(host.split(":")[0] for host in every["whoami"]) == ["10.99.1.1", "10.99.2.1"]
    assert set(every["whoami"].values()) == {"alice"}
    assert every["status"] == 0
