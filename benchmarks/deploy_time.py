"""How big the Lambda zip is and how long deploys take on the embedded moto.

    .venv/bin/python benchmarks/deploy_time.py [--repeat 5]

Prints the zip's size and file count, then for each phase the median and worst wall time over
``--repeat`` fresh stacks: package (build the zip), create (change set to CREATE_COMPLETE,
including the bridge), update (broadcast -> rooms), auth (rooms -> auth), unchanged (a
redeploy that finds no changes), teardown (stack and bucket). On AWS the create takes minutes,
not seconds: CloudFormation creates the resources one dependency level at a time.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import chatlib
    from chatlib.deploy import CHAT_TEMPLATE, build_package, deploy_stack, teardown_stack

    chatlib.start_embedded_aws()
    package = build_package()
    print(f"Lambda zip: {package.size / 1024:.1f} KiB, {len(package.files)} files")
    quiet = lambda line: None  # noqa: E731
    timings: dict[str, list[float]] = {}

    def timed(phase: str, action) -> None:
        started = time.perf_counter()
        action()
        timings.setdefault(phase, []).append(time.perf_counter() - started)

    for run in range(args.repeat):
        name = f"bench-{run}"
        timed("package", build_package)
        steps = {"create": "broadcast", "update": "rooms", "auth": "auth", "unchanged": "auth"}
        for phase, step in steps.items():
            timed(
                phase,
                lambda step=step, name=name: deploy_stack(
                    CHAT_TEMPLATE, stack_name=name, parameters={"Step": step}, progress=quiet
                ),
            )
        timed("teardown", lambda name=name: teardown_stack(name, progress=quiet))

    print(f"{'phase':<10} {'median s':>9} {'worst s':>8}   ({args.repeat} runs, moto)")
    for phase, values in timings.items():
        print(f"{phase:<10} {statistics.median(values):>9.2f} {max(values):>8.2f}")


if __name__ == "__main__":
    main()
