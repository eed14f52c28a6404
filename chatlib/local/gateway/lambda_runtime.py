"""The local Lambda runtime: function instances in child processes, invoked from asyncio.

Why processes: each function must see exactly its own environment variables, and a handler
that hangs or crashes must not take the gateway with it. So every instance is a child
process (:mod:`chatlib.local.gateway.lambda_worker`) started with the function's configured
environment plus Lambda's reserved variables, running the function's own code: its zip,
unpacked once per ``CodeSha256`` (:mod:`.function_code`). Instances stay warm between invocations; a
busy function gets more instances (up to a limit), like Lambda's scaling. A handler that
runs past its timeout is killed, as Lambda does, and the next invocation starts cold.

An instance left idle for ``idle_seconds`` (five minutes unless told) is retired and its
process ends, as Lambda reclaims idle execution environments; the next invocation starts cold.

Everything a function prints goes to its log group, one stream per instance, in memory and in
the embedded CloudWatch Logs (:mod:`.function_logs`).

Lambda runs a function for API Gateway only if the function's policy allows it
(:mod:`.invoke_permission`; the deployment says, per route, whether it does). A refused
invocation never reaches the function: it fails with ``AccessDeniedException``, and the
reason goes where API Gateway writes it, the stage's execution log
(``API-Gateway-Execution-Logs_{apiId}/{stage}``), not the function's.

Why this size: :class:`LambdaRuntime` is Lambda's invoke path in one place, the instance
pools and what touches them (start with the function's code, invoke, refuse, release,
retire, close); split, each part would reach into the others' pools and counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from chatlib.local.gateway.deployment import FunctionConfig
from chatlib.local.gateway.function_code import FunctionCode, runtime_package_paths
from chatlib.local.gateway.function_logs import FunctionLogs, new_log_stream_name

__all__ = ["DEFAULT_IDLE_SECONDS", "FunctionLogs", "Invocation", "LambdaRuntime"]

#: How long an instance may stay idle before it is retired (Lambda keeps them for minutes).
DEFAULT_IDLE_SECONDS = 5 * 60.0

log = logging.getLogger("chatlib.local.gateway.runtime")

#: Lambda's init phase (starting the runtime, importing the handler) has its own 10 s limit;
#: the function's timeout counts from the invocation.
INIT_TIMEOUT_SECONDS = 10.0

#: The instance's main, run by file name: ``-m chatlib…`` would import the workbook's chatlib.
_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lambda_worker.py")


def execution_log_group(api_id: str, stage: str) -> str:
    """The log group API Gateway writes a stage's execution log to."""
    return f"API-Gateway-Execution-Logs_{api_id}/{stage}"


@dataclass
class Invocation:
    """What came of one invocation."""

    request_id: str
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    timed_out: bool = False
    duration_ms: float = 0.0
    #: The structured line the handler logged for this invocation, if it logged one
    #: (``{"outcome", "status", "counts", …}``: :mod:`chatlib.invocation_log`).
    summary: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


@dataclass(eq=False)  # compared and hashed by identity: one per process
class _Instance:
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    log_stream: str = field(default_factory=new_log_stream_name)
    idle_since: float = field(default_factory=time.monotonic)
    log_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        self.writer.close()


@dataclass
class _Pool:
    idle: list[_Instance] = field(default_factory=list)
    size: int = 0
    prewarming: int = 0  # instances being started ahead of time: wait for them, not start more
    available: asyncio.Condition = field(default_factory=asyncio.Condition)


class LambdaRuntime:
    """Invoke deployed functions. ``base_environment`` holds what every instance gets besides
    its own variables: the local endpoints and the dummy credentials."""

    def __init__(
        self,
        *,
        base_environment: dict[str, str],
        region: str = "us-east-1",
        max_instances_per_function: int = 4,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        logs_client: Any = None,
        code: FunctionCode | None = None,
    ) -> None:
        self.base_environment = dict(base_environment)
        if code is None:
            if "AWS_ENDPOINT_URL" not in base_environment:
                raise ValueError("base_environment has no AWS_ENDPOINT_URL to read code from")
            code = FunctionCode(base_environment["AWS_ENDPOINT_URL"])
        self.code = code
        self._runtime_packages = json.dumps(runtime_package_paths())
        self._execution_log_stream = uuid.uuid4().hex
        self.region = region
        self.max_instances = max_instances_per_function
        self.idle_seconds = idle_seconds
        self.logs = FunctionLogs(client=logs_client)
        self._pools: dict[tuple[str, str, str], _Pool] = {}
        self._instances: set[_Instance] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self.cold_starts = 0
        self.retired = 0
        self.in_flight = 0

    @property
    def instances(self) -> int:
        """Function instances whose process is running, busy or idle."""
        return sum(1 for i in self._instances if i.process.returncode is None)

    def start(self) -> None:
        """Start retiring idle instances and shipping log lines (on the running loop)."""
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._keep_house())

    async def _keep_house(self) -> None:
        while True:  # idle_seconds may change while it runs (tests shorten it)
            await asyncio.sleep(max(0.05, min(1.0, self.idle_seconds / 4)))
            self.retire_idle()
            await asyncio.to_thread(self.logs.ship)

    def retire_idle(self, now: float | None = None) -> int:
        """End the instances idle for longer than ``idle_seconds``; return how many."""
        now = time.monotonic() if now is None else now
        retired = 0
        for pool in self._pools.values():
            keep = []
            for instance in pool.idle:
                if now - instance.idle_since >= self.idle_seconds:
                    instance.kill()
                    self._instances.discard(instance)
                    pool.size -= 1
                    retired += 1
                else:
                    keep.append(instance)
            pool.idle[:] = keep
        self.retired += retired
        return retired

    async def invoke(
        self, function: FunctionConfig, event: dict[str, Any], *, extra_environment: dict[str, str]
    ) -> Invocation:
        """Run ``function`` on ``event`` and return what it returned or raised."""
        self.in_flight += 1
        try:
            if function.invoke_refusal is not None:
                return await self._refuse(function, event)
            return await self._invoke(function, event, extra_environment)
        finally:
            self.in_flight -= 1

    async def _refuse(self, function: FunctionConfig, event: dict[str, Any]) -> Invocation:
        """Lambda refuses API Gateway: the function does not run; the stage's execution log
        (in the embedded CloudWatch Logs at once, for whoever reads it next) says why."""
        context = event.get("requestContext") or {}
        request_id = str(context.get("requestId") or uuid.uuid4())
        group = execution_log_group(str(context.get("apiId", "")), str(context.get("stage", "")))
        self.logs.append(
            group,
            f"({request_id}) {function.invoke_refusal}",
            self._execution_log_stream,
            group=group,
        )
        await asyncio.to_thread(self.logs.ship)  # the gateway's own log line says it too
        return Invocation(
            request_id,
            error_type="AccessDeniedException",
            error_message=str(function.invoke_refusal),
        )

    async def _invoke(
        self, function: FunctionConfig, event: dict[str, Any], extra_environment: dict[str, str]
    ) -> Invocation:
        pool = self._pool(function, extra_environment)
        request_id = str(uuid.uuid4())
        try:
            instance = await self._acquire(pool, function, extra_environment)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError) as error:
            self.logs.append(function.name, f"RequestId: {request_id} Error: Runtime.InitError")
            return Invocation(request_id, error_type="Runtime.InitError", error_message=str(error))
        started = time.perf_counter()
        request = {
            "requestId": request_id,
            "event": event,
            "deadline": time.time() + function.timeout,
        }
        try:
            _write(instance.writer, request)
            reply = await asyncio.wait_for(_read(instance.reader), timeout=function.timeout)
        except TimeoutError:
            instance.kill()
            await self._release(pool, None)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            self.logs.append(
                function.name,
                f"{stamp}Z {request_id} Task timed out after {function.timeout:.2f} seconds",
                instance.log_stream,
            )
            return Invocation(
                request_id,
                error_type="Sandbox.Timedout",
                error_message=f"Task timed out after {function.timeout:.2f} seconds",
                timed_out=True,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            instance.kill()
            await self._release(pool, None)
            self.logs.append(
                function.name, f"RequestId: {request_id} Error: Runtime exited", instance.log_stream
            )
            return Invocation(request_id, error_type="Runtime.ExitError", error_message=str(error))
        await self._release(pool, instance)
        elapsed = (time.perf_counter() - started) * 1000
        summary = reply.get("summary") if isinstance(reply.get("summary"), dict) else None
        if reply.get("ok"):
            return Invocation(
                request_id, result=reply.get("result"), duration_ms=elapsed, summary=summary
            )
        return Invocation(
            request_id,
            error_type=reply.get("errorType", "Error"),
            error_message=reply.get("errorMessage", ""),
            duration_ms=elapsed,
            summary=summary,
        )

    async def prewarm(self, function: FunctionConfig, extra_environment: dict[str, str]) -> None:
        """Start one instance ahead of the first invocation, so that it is not a cold start."""
        if function.invoke_refusal is not None:
            return  # API Gateway will never run it: no instance to keep warm
        pool = self._pool(function, extra_environment)
        async with pool.available:
            if pool.idle or pool.size:
                return
            pool.size += 1
            pool.prewarming += 1
        try:
            instance = await self._start(function, extra_environment)
        except Exception:
            instance = None
            raise
        finally:
            async with pool.available:
                pool.prewarming -= 1
            await self._release(pool, instance)

    def _pool(self, function: FunctionConfig, extra_environment: dict[str, str]) -> _Pool:
        """The instances of this exact configuration. A function whose configuration changed
        (a redeploy: new handler, environment, timeout) gets new instances, as on Lambda;
        the idle instances of its old configuration are retired."""
        key = (function.arn, repr(function), json.dumps(extra_environment, sort_keys=True))
        if key not in self._pools:
            for old_key, old_pool in self._pools.items():
                if old_key[0] == function.arn:
                    for instance in old_pool.idle:
                        instance.kill()
                    old_pool.idle.clear()
            self._pools[key] = _Pool()
        return self._pools[key]

    async def close(self) -> None:
        """Stop every instance, idle or (after a cancelled invocation) still busy, and send
        the last log lines."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        for instance in list(self._instances):
            instance.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(instance.process.wait(), timeout=5)
        self._instances.clear()
        for pool in self._pools.values():
            pool.idle.clear()
        self._pools.clear()
        await asyncio.to_thread(self.logs.ship)
        self.code.close()

    async def _acquire(
        self, pool: _Pool, function: FunctionConfig, extra: dict[str, str]
    ) -> _Instance:
        async with pool.available:
            while True:
                while pool.idle:
                    instance = pool.idle.pop()
                    if instance.process.returncode is None:
                        return instance
                    pool.size -= 1
                if pool.size < self.max_instances and not pool.prewarming:
                    pool.size += 1
                    break
                await pool.available.wait()
        try:
            return await self._start(function, extra)
        except Exception:
            await self._release(pool, None)
            raise

    async def _release(self, pool: _Pool, instance: _Instance | None) -> None:
        async with pool.available:
            if instance is None:
                pool.size -= 1
            else:
                instance.idle_since = time.monotonic()
                pool.idle.append(instance)
            pool.available.notify()

    async def _start(self, function: FunctionConfig, extra: dict[str, str]) -> _Instance:
        self.cold_starts += 1
        task_root = await asyncio.to_thread(self.code.task_root, function.arn, function.code_sha256)
        environment = lambda_environment(
            function, self.region, {**self.base_environment, **extra}, task_root=task_root
        )
        parent, child = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                worker_interpreter(),
                "-S",  # no site-packages: what the zip lacks, Lambda lacks too
                "-P",  # nothing prepended to sys.path: the zip comes first
                _WORKER,
                function.handler,
                str(child.fileno()),
                self._runtime_packages,
                pass_fds=(child.fileno(),),
                cwd=task_root,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            child.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        instance = _Instance(process, reader, writer)
        self._instances = {i for i in self._instances if i.process.returncode is None}
        self._instances.add(instance)
        instance.log_tasks.append(asyncio.create_task(self._collect(function.name, instance)))
        try:  # the init phase: Lambda gives it 10 s of its own, outside the function's timeout
            await asyncio.wait_for(_read(reader), timeout=INIT_TIMEOUT_SECONDS)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            instance.kill()
            raise
        return instance

    async def _collect(self, function_name: str, instance: _Instance) -> None:
        stdout = instance.process.stdout
        assert stdout is not None
        async for raw in stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.logs.append(function_name, line, instance.log_stream)


#: The runtime ``infra_cfn/chat.yaml`` gives every function.
TEMPLATE_RUNTIME = "python3.12"


@functools.cache
def worker_interpreter() -> str:
    """The Python that function instances run under: the template's runtime when it is
    installed (a ``python3.12`` on PATH that runs and says it is 3.12; a version manager's
    shim for a version it does not hold is not), as on Lambda; otherwise this process's own,
    with a note, once, that the handlers run under another version than deployed ones do."""
    found = shutil.which(TEMPLATE_RUNTIME)
    wanted = TEMPLATE_RUNTIME.removeprefix("python")
    if found and _version_of(found) == wanted:
        return found
    log.info(
        "%s (the template's runtime) is not installed: function instances run under "
        "Python %d.%d, as this process does",
        TEMPLATE_RUNTIME,
        *sys.version_info[:2],
    )
    return sys.executable


def _version_of(python: str) -> str | None:
    """``"3.12"`` for a Python 3.12 that runs; None for one that does not."""
    try:
        result = subprocess.run(
            [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def lambda_environment(
    function: FunctionConfig, region: str, base: dict[str, str], *, task_root: str = ""
) -> dict[str, str]:
    """An instance's environment: Lambda's reserved variables, ``base`` (the local endpoints
    and credentials), and the function's own configuration, and nothing of this process's or
    other functions'. ``task_root`` is where its code is unpacked (``/var/task`` on Lambda)."""
    reserved = {
        "LAMBDA_TASK_ROOT": task_root,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "CHATLIB_FUNCTION_ARN": function.arn,
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONUNBUFFERED": "1",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    user = {k: v for k, v in function.environment.items() if k not in reserved}
    return {**base, **user, **reserved}


def _write(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    writer.write(struct.pack(">I", len(data)) + data)


async def _read(reader: asyncio.StreamReader) -> dict[str, Any]:
    header = await reader.readexactly(4)
    return json.loads(await reader.readexactly(struct.unpack(">I", header)[0]))
