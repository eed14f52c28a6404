"""How long a function instance takes to start (a cold start: process, imports, "ready").

    python benchmarks/instance_startup.py [--runs 20]

Starts the local stack, defines the rooms chat with the shortcut, and starts ``--runs``
instances of its ``sendmessage`` function one after another (each is ended before the
next), timing the local runtime's start of one instance: reading and unpacking the code
when it is new, the process, the handler's imports, the "ready" answer. Prints the median,
the 90th percentile and the first start (which unpacks the zip) in milliseconds, and the CPU
time the instances' processes used on average (user + system, read after they have ended:
less sensitive than wall time to other work on the machine).

It uses only what every version of the runtime has, so the same script measures the code
before a change: run it from a copy of the older tree, first on ``PYTHONPATH``, with
``--function-pythonpath`` naming that copy too (the older runtime imported the workbook's
chatlib in each instance, so the instances must find the older one).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import boto3

import chatlib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--function-pythonpath", default="")
    args = parser.parse_args()
    stack = chatlib.start_local_stack()
    try:
        chatlib.create_connection_table("startup-chat")
        api = chatlib.define_chat_shortcut("rooms", table_name="startup-chat")
        if args.function_pythonpath:
            variables = {
                "CONNECTIONS_TABLE": "startup-chat",
                "PYTHONPATH": args.function_pythonpath,
            }
            boto3.client("lambda").update_function_configuration(
                FunctionName=api.function_names["sendmessage"],
                Environment={"Variables": variables},
            )
        function = stack.deployment(api.api_id).routes["sendmessage"].function
        runtime = stack.gateway.runtime
        extra = {"CHATLIB_CONNECTIONS_URL": stack.connections_url(api.api_id)}
        times = []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(args.runs):
            started = time.perf_counter()
            instance = stack.run(runtime._start(function, extra))
            times.append((time.perf_counter() - started) * 1000)
            instance.kill()
            stack.run(instance.process.wait())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.runs
        ordered = sorted(times[1:])
        print(f"instance start-up, {args.runs} runs of {function.handler} (ms)")
        print(f"  first (unpacks new code): {times[0]:.0f}")
        print(f"  median of the others:     {statistics.median(ordered):.0f}")
        print(f"  90th percentile:          {ordered[int(len(ordered) * 0.9) - 1]:.0f}")
        print(f"  CPU per instance:         {cpu * 1000:.0f}")
    finally:
        print(chatlib.stop_local_stack())


if __name__ == "__main__":
    main()
