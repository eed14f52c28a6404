"""Where ``chatlib-local serve`` spends its start-up, phase by phase.

    python benchmarks/serve_startup.py [--runs 5] [--steps rooms auth]

Starts ``serve`` ``--runs`` times per step (each in a fresh process, with its own state
directory, so a ``serve`` someone else runs is left alone), reads its ``[ x.x s] ready in …``
line, stops it with Ctrl-C (SIGINT), and prints per-phase medians in milliseconds.

The phases are timed from inside the ``serve`` process by wrappers this script installs
before ``serve`` runs (nothing in chatlib is changed for it): each wrapper prints one line
on stderr with the wall-clock interval of a call, which this script sums per phase and run.

* ``interpreter + imports``: from the process's start until ``serve()`` is entered;
* ``embedded AWS``: ``start_embedded_aws`` (moto's process started and listening);
* ``gateway``: the rest of ``start_local_stack`` (boto3 clients, the gateway's listeners);
* ``deploy``: ``_deploy_step`` (seed, package, bucket, change set, execute, bridge), and
  inside it each AWS API call by operation (botocore's ``before-call``/``after-call``
  events), every ``time.sleep`` a waiter or the event poller takes, the bridge's
  ``reconcile``, and the signing secret (auth step);
* ``ready in``: what ``serve`` prints; ``to the URLs``: wall time from spawning the process
  until it printed its URLs (what an instructor waits for).

After each start it also reads the stack's events from the embedded AWS and prints, for the
first run, how long moto's CloudFormation took per resource (between consecutive events).
"""

from __future__ import annotations

import argparse
import collections
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

#: Run inside the serve process: install the timing wrappers, then run the CLI.
BOOTSTRAP = textwrap.dedent(
    """
    import sys, time, functools
    T0 = float(sys.argv.pop(1))
    def mark(name, began, ended):
        print(f"@@phase\\t{name}\\t{began:.6f}\\t{ended:.6f}", file=sys.stderr, flush=True)
    mark("interpreter + imports", T0, time.time())  # replaced below at serve() entry

    def timed(module, attribute, name):
        original = getattr(module, attribute)
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            began = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                mark(name, began, time.time())
        setattr(module, attribute, wrapper)

    import chatlib.tools.serve as serve_module
    original_serve = serve_module.serve
    def serve(args):
        mark("interpreter + imports", T0, time.time())
        return original_serve(args)
    serve_module.serve = serve
    import chatlib.tools.cli as cli
    cli.serve = serve

    import chatlib.local.embedded as embedded
    import chatlib.local.gateway.stack as local_stack
    import chatlib.deploy.stack as deploy_stack
    import chatlib.deploy.events as events
    import chatlib.local.moto_bridge as bridge
    timed(local_stack, "start_embedded_aws", "embedded AWS")
    timed(local_stack, "start_local_stack", "embedded AWS + gateway")
    timed(serve_module, "_deploy_step", "deploy")
    import urllib.request
    timed(urllib.request, "urlopen", "deploy: seed (waits for moto's warm-up)")
    import os
    if os.environ.get("SERVE_STARTUP_PROFILE"):
        import cProfile
        deploy_step = serve_module._deploy_step
        def profiled(*args, **kwargs):
            profile = cProfile.Profile()
            try:
                return profile.runcall(deploy_step, *args, **kwargs)
            finally:
                profile.dump_stats(os.environ["SERVE_STARTUP_PROFILE"])
        serve_module._deploy_step = profiled
    timed(serve_module, "_install_signing_secret", "deploy: signing secret")
    timed(deploy_stack, "build_package", "deploy: package")
    timed(deploy_stack, "follow_events", "deploy: execute + events")
    timed(bridge, "reconcile", "deploy: bridge (reconcile)")

    sleep = time.sleep
    def timed_sleep(seconds):
        began = time.time()
        sleep(seconds)
        mark("deploy: sleeping (waiters, polls)", began, time.time())
    import botocore.waiter
    botocore.waiter.time = type("T", (), {"sleep": staticmethod(timed_sleep)})
    events.time = type("T", (), {"sleep": staticmethod(timed_sleep),
                                 "monotonic": staticmethod(time.monotonic)})

    import boto3
    calls = {}
    def before(model, **kwargs):
        calls.setdefault(model.name, []).append(time.time())
    def after(model, **kwargs):
        began = calls[model.name].pop()
        mark(f"api: {model.name}", began, time.time())
    session = boto3._get_default_session()
    session.events.register("before-call", before)
    session.events.register("after-call", after)
    sys.exit(cli.main())
    """
)

READY = re.compile(r"\[ *[\d.]+ s\] ready in ([\d.]+) s")


def start_once(
    step: str,
    state_dir: str,
    *,
    per_resource: bool = False,
    profile: str | None = None,
    tree: str | None = None,
) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """One start of ``serve --step step`` (chatlib from ``tree`` when given): {phase: ms},
    and (``per_resource``) moto's time per resource, read from the stack's events before
    ``serve`` is stopped."""
    environment = {**os.environ, "XDG_CACHE_HOME": state_dir, "PYTHONUNBUFFERED": "1"}
    if tree:
        environment["PYTHONPATH"] = tree
    if profile:
        environment["SERVE_STARTUP_PROFILE"] = profile
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        environment.pop(name, None)
    began = time.time()
    process = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP, str(began), "serve", "--step", step, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tree,  # `python -c` and `-m` put the working directory first on sys.path
    )
    phases: dict[str, float] = collections.defaultdict(float)
    endpoint, resources = None, []
    assert process.stdout is not None and process.stderr is not None
    for line in process.stdout:
        if match := READY.search(line):
            phases["ready in (printed)"] = float(match.group(1)) * 1000
        if line.startswith("  embedded AWS  :"):
            endpoint = line.split(":", 1)[1].strip()
        if line.startswith("Ctrl-C stops it."):
            phases["to the URLs (wall)"] = (time.time() - began) * 1000
            break
    if per_resource and endpoint:
        resources = resource_times(endpoint)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    interpreter = None
    for line in errors.splitlines():
        if line.startswith("@@phase\t"):
            _, name, start, end = line.split("\t")
            duration = (float(end) - float(start)) * 1000
            if name == "interpreter + imports":
                interpreter = duration  # the later mark (at serve()) wins
            else:
                phases[name] += duration
                if name.startswith("api: "):
                    phases[f"{name} (calls)"] += 1
        elif line.strip():
            print(f"    serve said: {line}", file=sys.stderr)
    if interpreter is not None:
        phases["interpreter + imports"] = interpreter
    if "embedded AWS + gateway" in phases:
        phases["gateway"] = phases.pop("embedded AWS + gateway") - phases["embedded AWS"]
    return dict(phases), resources


def resource_times(endpoint: str) -> list[tuple[str, float]]:
    """Per resource, ms between its CREATE_COMPLETE event and the event before it."""
    import boto3

    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    events = cloudformation.describe_stack_events(StackName="chat")["StackEvents"][::-1]
    timed, previous = [], None
    for event in events:
        stamp = event["Timestamp"].timestamp()
        if previous is not None and event["ResourceStatus"] == "CREATE_COMPLETE":
            name = f"{event['ResourceType']} {event['LogicalResourceId']}"
            timed.append((name, (stamp - previous) * 1000))
        previous = stamp
    return timed


ORDER = [
    "interpreter + imports",
    "embedded AWS",
    "gateway",
    "deploy",
    "deploy: seed (waits for moto's warm-up)",
    "deploy: package",
    "deploy: execute + events",
    "deploy: bridge (reconcile)",
    "deploy: signing secret",
    "deploy: sleeping (waiters, polls)",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", nargs="+", default=["rooms", "auth"])
    parser.add_argument("--api-calls", action="store_true", help="also each API call's median")
    parser.add_argument("--resources", action="store_true", help="moto's time per resource")
    parser.add_argument("--profile", help="cProfile the first start's deploy into this file")
    parser.add_argument(
        "--baseline",
        help="another checkout (e.g. `git archive <commit> | tar -x -C DIR`): its starts "
        "alternate with this tree's, so both see the same load on the machine",
    )
    args = parser.parse_args()
    trees = {"before": args.baseline, "after": None} if args.baseline else {"": None}
    with tempfile.TemporaryDirectory() as state_dir:
        for step in args.steps:
            runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
            for run in range(args.runs):
                for label, tree in trees.items():
                    profile = args.profile if run == 0 and not tree else None
                    phases, resources = start_once(
                        step, state_dir, per_resource=run == 0, profile=profile, tree=tree
                    )
                    runs[label].append(phases)
                    if profile:
                        print(f"serve --step {step}, first start: the deploy's profile")
                        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
                    if run == 0 and args.resources and not tree:
                        print(f"serve --step {step}: moto's CloudFormation per resource")
                        for name, ms in resources:
                            print(f"  {name:<70} {ms:6.0f} ms")
            report(step, runs, api_calls=args.api_calls)


def report(step: str, runs: dict[str, list[dict[str, float]]], *, api_calls: bool) -> None:
    every = [r for label_runs in runs.values() for r in label_runs]
    names = [n for n in ORDER if any(n in r for r in every)]
    names += ["ready in (printed)", "to the URLs (wall)"]
    if api_calls:
        names += sorted({n for r in every for n in r if n.startswith("api: ")})
    count = len(next(iter(runs.values())))
    print(f"serve --step {step}: medians of {count} starts (ms; min-max)")
    print(f"  {'':<40}" + "".join(f"{label:>22}" for label in runs))
    for name in names:
        cells = []
        for label_runs in runs.values():
            values = [r.get(name, 0.0) for r in label_runs]
            cells.append(
                f"{statistics.median(values):8.0f} ({min(values):.0f}-{max(values):.0f})".rjust(22)
            )
        print(f"  {name:<40}" + "".join(cells))


if __name__ == "__main__":
    main()
