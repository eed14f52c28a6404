"""Where a fan-out's time goes, stage by stage, through the whole local chain.

    python benchmarks/fanout_stages.py [--size 200] [--messages 40]     # also --size 1000

Runs ``chatlib-local serve`` (rooms step) in a child process with timing hooks, holds a room of
``--size`` receivers open from this process, and prints per stage the median and the worst of
``--messages`` messages:

    to gateway      client send -> the gateway has the frame
    to invoke       frame -> the invocation is handed to the function instance
    get sender      the handler's GetItem of the sender's row (in the instance)
    room query      the handler's Query of the room index
    fan-out         the handler's 200 @connections posts, first to last
    after fan-out   the fan-out's end -> the invocation's result is back in the gateway
    to last client  the last post answered -> the last receiver has the frame

``--ab-query`` alternates the messages, five by five, between moto's own DynamoDB Query and
chatlib's (:mod:`chatlib.local.moto_patches_query`) in the one stack, and prints each's stages
side by side: a ``sitecustomize`` in moto's process puts a switch (a file this script creates
and deletes) in front of the two.

The hooks are measuring instruments only: wrappers recording wall-clock times (one clock for
every process of this machine), added in the gateway process by this script and in the
function instances by a ``sitecustomize`` module that a wrapper of the instance's main runs
first (the instances start with ``python -S``, which imports no ``sitecustomize`` of its own).
The code measured is the code that runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

from fanout_room import BenchRoom

GATEWAY_HOOKS = textwrap.dedent(
    """
    import atexit, json, os, sys, time
    from chatlib.local.gateway import lambda_runtime, management_api, protocol

    TIMES = []
    def timed(owner, name, tag):
        original = getattr(owner, name)
        async def wrapper(self, *args, **kwargs):
            started = time.time()
            try:
                return await original(self, *args, **kwargs)
            finally:
                TIMES.append((tag, started, time.time()))
        setattr(owner, name, wrapper)
    timed(protocol.WebSocketProtocol, "_on_message", "frame")
    timed(lambda_runtime.LambdaRuntime, "_invoke", "invoke")
    timed(management_api.ManagementAPI, "handle", "post")
    environment, worker = lambda_runtime.lambda_environment, lambda_runtime._WORKER
    def with_hooks(function, region, base, **options):
        result = environment(function, region, base, **options)
        result["STAGES_OUT"] = os.environ["STAGES_OUT"]
        result["STAGES_WORKER"] = worker
        return result
    lambda_runtime.lambda_environment = with_hooks
    lambda_runtime._WORKER = os.environ["STAGES_HOOKS"] + "/worker.py"
    atexit.register(lambda: json.dump(TIMES, open(os.environ["STAGES_OUT"] + "/gateway", "w")))
    from chatlib.tools.cli import main
    sys.argv = ["chatlib-local", "serve", "--step", "rooms", "--quiet"]
    main()
    """
)

INSTANCE_HOOKS = textwrap.dedent(
    """
    import builtins, os, time
    _out = open(f"{os.environ['STAGES_OUT']}/instance-{os.getpid()}", "a", buffering=1)
    def _timed(owner, name, tag):
        original = getattr(owner, name)
        def wrapper(*args, **kwargs):
            started = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                _out.write(f"{tag} {started:.6f} {time.time():.6f}\\n")
        setattr(owner, name, wrapper)
    _import = builtins.__import__
    def _hooking_import(name, *args, **kwargs):
        module = _import(name, *args, **kwargs)
        if name == "chatlib.handlers.sending" and not getattr(builtins, "_stages", False):
            builtins._stages = True
            import chatlib.handlers.sending as sending, chatlib.store as store
            _timed(store.ConnectionStore, "get", "get")
            _timed(store.ConnectionStore, "room_member_ids", "query")
            _timed(sending, "fan_out", "fanout")
            _query = store.ConnectionStore.room_member_ids
            def _paged(self, *args, **kwargs):
                result = _query(self, *args, **kwargs)
                _out.write(f"pages {result.pages} {len(result)}\\n")
                return result
            store.ConnectionStore.room_member_ids = _paged
        return module
    builtins.__import__ = _hooking_import
    """
)

MOTO_HOOKS = textwrap.dedent(
    """
    import os, sys
    if "chatlib.local.moto_server" in sys.orig_argv:  # moto's process, not serve's
        from chatlib.local import moto_patches_query
        install = moto_patches_query.query_without_copies
        def with_switch():
            install()
            from moto.dynamodb.models.table import Table
            patched, plain = Table.query, Table.query.__wrapped__
            switch = os.environ["STAGES_OUT"] + "/moto-query"
            def query(self, *args, **kwargs):
                return (plain if os.path.exists(switch) else patched)(self, *args, **kwargs)
            Table.query = query
            open(os.environ["STAGES_OUT"] + "/moto-switch", "w").close()  # for the script
        moto_patches_query.query_without_copies = with_switch
    """
)

#: ``--ab-query``: the two Queries compared, and how many messages in a row each gets.
QUERIES, IN_A_ROW = ("moto's", "chatlib's"), 5

STAGES = ["to gateway", "to invoke", "get sender", "room query", "fan-out", "after fan-out",
          "to last client", "total"]  # fmt: skip


def start_hooked_stack(folder: Path, ab_query: bool) -> tuple[subprocess.Popen[str], str]:
    (folder / "hooks").mkdir()
    (folder / "hooks" / "sitecustomize.py").write_text(INSTANCE_HOOKS)
    (folder / "hooks" / "worker.py").write_text(
        "import os, runpy, sys\n"
        "exec(open(os.path.join(os.path.dirname(__file__), 'sitecustomize.py')).read())\n"
        "sys.argv[0] = os.environ['STAGES_WORKER']\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(STAGES_HOOKS=str(folder / "hooks"), STAGES_OUT=str(folder))
    if ab_query:
        (folder / "moto").mkdir()
        (folder / "moto" / "sitecustomize.py").write_text(MOTO_HOOKS)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(folder / "moto"), environment.get("PYTHONPATH")])
        )
    server = subprocess.Popen(
        [sys.executable, "-c", GATEWAY_HOOKS], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, env=environment,
    )  # fmt: skip
    assert server.stdout is not None
    for line in server.stdout:
        if "WebSocket URL : " in line:
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, line.split("WebSocket URL : ")[1].split()[0]
    raise SystemExit("the local stack did not start")


def query_pages(folder: Path) -> Counter[str]:
    """How many pages the room Queries took, and how many ids they returned."""
    return Counter(
        f"{pages} page(s), {ids} ids"
        for path in folder.glob("instance-*")
        for tag, pages, ids in (line.split() for line in path.read_text().splitlines())
        if tag == "pages"
    )


def stages(folder: Path, sends: list[tuple[float, float]]) -> dict[str, list[float]]:
    gateway = json.loads((folder / "gateway").read_text())
    frames = sorted(t for t in gateway if t[0] == "frame")
    invokes = sorted(t for t in gateway if t[0] == "invoke")
    posts = sorted(t for t in gateway if t[0] == "post")
    lines = [
        line.split() for path in folder.glob("instance-*") for line in path.read_text().splitlines()
    ]
    instance = [(tag, float(a), float(b)) for tag, a, b in lines if tag != "pages"]
    found: dict[str, list[float]] = {name: [] for name in STAGES}
    for sent, last_received in sends:
        frame = next(f for f in frames if f[1] >= sent - 0.001)
        invoke = next(i for i in invokes if i[1] >= frame[1])
        mine = {tag: (a, b) for tag, a, b in instance if invoke[1] <= a <= invoke[2]}
        answered = max(p[2] for p in posts if invoke[1] <= p[1] <= invoke[2])
        for name, start, end in [
            ("to gateway", sent, frame[1]),
            ("to invoke", frame[1], invoke[1]),
            ("get sender", *mine["get"]),
            ("room query", *mine["query"]),
            ("fan-out", *mine["fanout"]),
            ("after fan-out", mine["fanout"][1], invoke[2]),
            ("to last client", answered, last_received),
            ("total", sent, last_received),
        ]:
            found[name].append((end - start) * 1000)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between messages (a chat's pace)"
    )
    parser.add_argument(
        "--ab-query", action="store_true", help="alternate moto's Query and chatlib's"
    )
    args = parser.parse_args()
    labels = QUERIES if args.ab_query else ("",)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        server, url = start_hooked_stack(folder, args.ab_query)
        if args.ab_query and not (folder / "moto-switch").exists():
            raise SystemExit("moto's process did not take the Query switch")
        room = BenchRoom(url, args.size, 20, tag="stages")
        for _ in range(3):  # warm-up
            room.send_and_time()
        sends: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
        for number in range(args.messages):
            label = labels[number // IN_A_ROW % len(labels)]
            if label == QUERIES[0]:
                (folder / "moto-query").touch()
            time.sleep(args.pause)
            sent = time.time()
            sends[label].append((sent, sent + room.send_and_time() / 1000))
            (folder / "moto-query").unlink(missing_ok=True)
        room.close()
        server.terminate()
        server.wait(timeout=60)
        found = {label: stages(folder, sent) for label, sent in sends.items()}
        pages = query_pages(folder)
    print(f"N={args.size}, {args.messages} messages, {args.pause} s apart; ms per message")
    print("room Query:", ", ".join(f"{count} x {shape}" for shape, count in pages.items()))
    print(f"{'stage':<16}" + "".join(f"{label + ' p50':>14}{'max':>8}" for label in labels))
    for name in STAGES:
        cells = [found[label][name] for label in labels]
        print(
            f"{name:<16}" + "".join(f"{statistics.median(v):>14.1f}{max(v):>8.1f}" for v in cells)
        )
    for label in labels:
        per_post = statistics.median(found[label]["fan-out"]) / args.size * 1000
        print(f"{label} fan-out per post: {per_post:.0f} µs (p50 / N)".lstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
