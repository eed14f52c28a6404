"""Lambda's SQS poller for event source mappings, which moto does not have.

On AWS a queue never calls Lambda: for each enabled event source mapping on an SQS queue,
Lambda *polls* the queue (``ReceiveMessage``, long polling), invokes the function
synchronously with a batch in the documented event shape, and deletes the batch's messages
when the function succeeds; on an error it deletes nothing, the messages come back when the
queue's visibility timeout ends, and SQS's redrive policy moves a message to the dead-letter
queue once it has been received ``maxReceiveCount`` times
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html). With ``ReportBatchItemFailures``
the function names the messages to keep and the rest are deleted
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). Batches run
concurrently, up to the mapping's ``ScalingConfig.MaximumConcurrency``
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).

:class:`EventSources` does the same here, over HTTP against the embedded AWS (moto's real SQS,
whose redrive happens on receive as AWS's does), and invokes through the gateway's one runtime
(instance pools, logs, timeouts; the event and the reading of the answer are in
:mod:`.sqs_events`). The function gets its own configuration and no ``@connections`` URL from
the gateway, since no API invoked it. Locally a mapping runs at most as many batches at once as
the runtime starts instances of a function (``GatewayOptions.max_instances_per_function``, 4),
or fewer if its ``MaximumConcurrency`` says so; AWS starts at five and scales out.

It asks moto as little as it can, and never on its own while ``chatlib-local serve`` makes its
seeded deploy: every request draws from moto's one seeded random generator (request ids,
receipt handles), and a restart's redeploy must draw the same ids as the first deploy. So
discovery (``ListEventSourceMappings``) starts at the gateway's first ``forget``
(``LocalStack.refresh``, which a deploy calls) or invocation, then repeats every
``refresh_seconds``; ``EventSources.paused`` (while the embedded AWS restarts) holds requests.
One receiver per mapping holds one long poll at a time, and at most :data:`LONG_POLLS` long polls
run at once, each holding one of moto's ``SERVER_THREADS`` for up to a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from chatlib.local.gateway.deployment import FunctionConfig, function_config
from chatlib.local.gateway.lambda_runtime import Invocation
from chatlib.local.gateway.sqs_events import SqsMapping, messages_to_keep, sqs_event

__all__ = ["EventSources"]

log = logging.getLogger("chatlib.local.gateway.event_sources")

#: ``WaitTimeSeconds`` of a long poll: an arriving message ends it at once; an empty one
#: holds a moto server thread (and delays ``stop``) for this long.
LONG_POLL_SECONDS = 1
#: Long polls in flight at once, over every mapping: a quarter of moto's server threads.
LONG_POLLS = 2
#: ``ReceiveMessage`` returns at most ten messages; Lambda's synchronous invocation payload
#: is at most 6 MB, so a batch stops growing before that.
RECEIVE_MAX, PAYLOAD_BYTES = 10, 6 * 1024 * 1024
#: Seconds to wait before asking again after moto failed to answer.
BACKOFF_SECONDS = 1.0

Invoke = Callable[[FunctionConfig, dict[str, Any]], Awaitable[Invocation]]


class _QueuePoller:
    """One mapping's receiver: one long poll at a time, each batch invoked in a task of its
    own, at most ``concurrency`` batches at once (the receiver waits for a free one before it
    receives, so no message waits invisible for an instance)."""

    def __init__(self, sources: EventSources, mapping: SqsMapping, queue_url: str) -> None:
        self.sources, self.mapping, self.queue_url = sources, mapping, queue_url
        self.batches: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        self.retiring = False
        self.task = asyncio.create_task(self._run())
        self.task.add_done_callback(lambda _: sources.update_polled())

    def retire(self) -> None:
        """Receive no more once the long poll under way has returned (what it brings is
        invoked, not dropped); the batches under way finish."""
        self.retiring = True
        self._freed.set()

    async def _run(self) -> None:
        failing = False
        while not self.retiring:
            free = self.mapping.concurrency(self.sources.local_cap) - len(self.batches)
            if free <= 0:
                self._freed.clear()
                await self._freed.wait()
                continue
            try:
                messages = await self._gather(free)
                failing = False
            except Exception as error:  # moto restarting, the queue deleted: log once, go on
                if not failing:
                    log.warning("polling %s failed: %s", self.queue_url, error)
                failing = True
                await asyncio.sleep(BACKOFF_SECONDS)
                continue
            size = self.mapping.batch_size
            for start in range(0, len(messages), size):
                task = asyncio.create_task(self._invoke(messages[start : start + size]))
                self.batches.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.batches.discard(task)
        self._freed.set()

    async def _gather(self, free: int) -> list[dict[str, Any]]:
        """Without a batching window, one long poll for up to ``free`` batches (one receive
        for several small batches saves round trips); with one, a single batch: more receives
        until the batch size, the window or the payload limit is reached."""
        mapping = self.mapping
        if not mapping.window_seconds:
            count = min(RECEIVE_MAX, mapping.batch_size * free)
            return await self._receive(count, LONG_POLL_SECONDS)
        batch = await self._receive(min(RECEIVE_MAX, mapping.batch_size), LONG_POLL_SECONDS)
        window_ends = time.monotonic() + mapping.window_seconds
        size = sum(len(m["Body"]) for m in batch)
        while batch and len(batch) < mapping.batch_size and time.monotonic() < window_ends:
            if size > PAYLOAD_BYTES - RECEIVE_MAX * 256 * 1024:
                break
            try:
                more = await self._receive(min(RECEIVE_MAX, mapping.batch_size - len(batch)), 0)
            except Exception:  # what is in hand is invoked; the failure shows at the next poll
                break
            batch += more
            size += sum(len(m["Body"]) for m in more)
            if not more:
                await asyncio.sleep(min(0.1, max(0.0, window_ends - time.monotonic())))
        return batch

    async def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        async with self.sources.long_polls if wait else contextlib.nullcontext():
            await self.sources.unpaused()
            answer = await self.sources.call(
                "receive_message",
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        messages = answer.get("Messages") or []
        self.sources.in_flight += len(messages)
        return messages

    async def _invoke(self, messages: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        try:
            event = sqs_event(messages, mapping.queue_arn)
            invocation = await self.sources.invoke(mapping.function, event)
            ids = {m["MessageId"] for m in messages}
            kept = messages_to_keep(invocation, mapping, ids)
            if not invocation.ok:
                log.warning(
                    "%s failed on %d message(s) from %s (%s: %s); they return to the queue "
                    "when its visibility timeout ends",
                    mapping.function.name,
                    len(messages),
                    mapping.queue_arn,
                    invocation.error_type,
                    invocation.error_message,
                )
            elif kept:
                log.info("%s kept %d of %d message(s)", mapping.function.name, len(kept), len(ids))
            await self._delete([m for m in messages if m["MessageId"] not in kept])
        except Exception:  # never the gateway's problem: the messages come back in time
            log.warning("a batch from %s was not finished", mapping.queue_arn, exc_info=True)
        finally:
            self.sources.in_flight -= len(messages)

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), RECEIVE_MAX):
            entries = [
                {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                for number, message in enumerate(messages[start : start + RECEIVE_MAX])
            ]
            await self.sources.unpaused()
            answer = await self.sources.call(
                "delete_message_batch", QueueUrl=self.queue_url, Entries=entries
            )
            for failed in answer.get("Failed") or []:
                log.warning("could not delete a message from %s: %s", self.queue_url, failed)

    async def stop(self, timeout: float) -> None:
        """Stop receiving; give the batches under way ``timeout`` seconds, then cancel them."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        if self.batches:
            _, late = await asyncio.wait(set(self.batches), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)


class EventSources:
    """The pollers of every enabled SQS mapping in the embedded AWS, kept in step with it:
    a mapping created, updated (enabled, batch size, window, response types, concurrency) or
    deleted is followed at the next discovery. ``in_flight`` counts the messages received
    and not yet finished, for ``LocalStack.wait_until_idle``."""

    def __init__(self, invoke: Invoke, *, local_cap: int, refresh_seconds: float = 1.0) -> None:
        self.invoke, self.local_cap, self.refresh_seconds = invoke, local_cap, refresh_seconds
        self.in_flight = 0
        self.paused = False  # set from another thread while the embedded AWS restarts
        #: A discovery is asked for and not done: mappings a deploy just made may be missing.
        self.discovering = False
        self.long_polls = asyncio.Semaphore(LONG_POLLS)
        self.polled_queues: tuple[str, ...] = ()  # read from other threads: replaced whole
        self._pollers: dict[str, _QueuePoller] = {}
        self._retired: list[_QueuePoller] = []  # deleted mappings' batches still running
        self._queue_urls: dict[str, str] = {}
        self._warned: set[str] = set()
        self._clients: tuple[Any, Any] | None = None
        self._executor = ThreadPoolExecutor(LONG_POLLS + 2, thread_name_prefix="chatlib-sqs")
        self._wanted = asyncio.Event()
        self._following = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    def follow(self) -> None:
        """Discover the mappings every ``refresh_seconds`` from now on (the first at once)."""
        if not self._following:
            self.forget()

    def forget(self) -> None:
        """Discover the mappings now (after a deploy), and every ``refresh_seconds`` after."""
        self._following = True
        self.discovering = True
        self._wanted.set()

    async def unpaused(self) -> None:
        while self.paused:
            await asyncio.sleep(0.05)

    async def call(self, operation: str, **arguments: Any) -> Any:
        """One SQS call, in this object's threads (a long poll blocks its thread)."""
        return await self._in_thread(lambda: getattr(self._client()[0], operation)(**arguments))

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _client(self) -> tuple[Any, Any]:
        """SQS's and Lambda's clients, made on first use from a session of their own (boto3's
        default session is not to be shared between threads). They never retry: a request
        botocore retried against a dead embedded AWS could reach the restarted one during
        its seeded redeploy; the loops here ask again themselves, after checking ``paused``."""
        if self._clients is None:
            session = boto3.session.Session()
            once = Config(retries={"total_max_attempts": 1})
            self._clients = (
                session.client("sqs", config=once),
                session.client("lambda", config=once),
            )
        return self._clients

    async def _follow(self) -> None:
        while True:
            timeout = self.refresh_seconds if self._following else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), timeout)
            self._wanted.clear()
            await self.unpaused()
            try:
                await self.refresh()
            except Exception as error:  # the embedded AWS stopped or restarts (serve's own
                # lines say so): ask again in a second, without a line a second in serve's log
                log.debug("could not read the event source mappings: %s", error)
            self.discovering = self._wanted.is_set()

    async def refresh(self) -> None:
        """Read the mappings; start, update and stop pollers to match."""
        found = await self._in_thread(self._read_mappings)
        self._retired = [p for p in self._retired if p.batches or not p.task.done()]
        for uuid, poller in list(self._pollers.items()):
            if uuid not in found or found[uuid][1] != poller.queue_url:
                poller.retire()
                self._retired.append(self._pollers.pop(uuid))
        for uuid, (mapping, queue_url) in found.items():
            if uuid in self._pollers:
                self._pollers[uuid].mapping = mapping  # read afresh before each receive
            else:
                self._pollers[uuid] = _QueuePoller(self, mapping, queue_url)
        self.update_polled()

    def update_polled(self) -> None:
        """The queues a receiver still polls, a retiring one's too until its last poll ends."""
        pollers = [*self._pollers.values(), *self._retired]
        self.polled_queues = tuple({p.queue_url for p in pollers if not p.task.done()})

    def _read_mappings(self) -> dict[str, tuple[SqsMapping, str]]:
        """In a thread: every enabled mapping on an SQS queue, with its queue's URL."""
        sqs, lambda_client = self._client()
        found = {}
        for page in lambda_client.get_paginator("list_event_source_mappings").paginate():
            for esm in page["EventSourceMappings"]:
                arn, uuid = esm.get("EventSourceArn", ""), esm["UUID"]
                if arn.split(":")[2:3] != ["sqs"] or esm.get("State") not in {
                    "Enabled",
                    "Updating",
                }:
                    continue
                if (esm.get("FilterCriteria") or {}).get("Filters"):
                    self._warn_once(
                        uuid,
                        "mapping %s has FilterCriteria, which the local poller "
                        "does not reproduce: it is not polled",
                        uuid,
                    )
                    continue
                try:
                    function = function_config(lambda_client, esm["FunctionArn"])
                    if arn not in self._queue_urls:
                        _, _, _, _, account, name = arn.split(":")
                        self._queue_urls[arn] = sqs.get_queue_url(
                            QueueName=name, QueueOwnerAWSAccountId=account
                        )["QueueUrl"]
                    visibility = sqs.get_queue_attributes(
                        QueueUrl=self._queue_urls[arn], AttributeNames=["VisibilityTimeout"]
                    )["Attributes"]["VisibilityTimeout"]
                except Exception as error:  # the function or queue is gone: skip the mapping
                    self._warn_once(uuid, "mapping %s is not polled: %s", uuid, error)
                    continue
                if function.timeout > float(visibility):  # services-sqs-configure.html
                    self._warn_once(
                        uuid,
                        "mapping %s is not polled: AWS refuses it (queue visibility timeout: "
                        "%s seconds is less than function timeout: %g seconds)",
                        *(uuid, visibility, function.timeout),
                    )
                    continue
                found[uuid] = (SqsMapping.from_configuration(esm, function), self._queue_urls[arn])
        return found

    def _warn_once(self, key: str, message: str, *arguments: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *arguments)

    def waiting_messages(self) -> int:
        """Messages visible in the polled queues (any thread): received at once, or the
        pollers are busy; either way not idle."""
        if self._clients is None:
            return 0
        total = 0
        for url in self.polled_queues:
            with contextlib.suppress(Exception):
                attributes = self._clients[0].get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                total += int(attributes["ApproximateNumberOfMessages"])
        return total

    def forget_queues(self) -> None:
        """After the embedded AWS restarted: look every queue up again."""
        self._queue_urls.clear()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop discovering and receiving; batches under way get ``timeout`` seconds, then
        are cancelled (their messages come back after the visibility timeout); the threads end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        pollers = [*self._pollers.values(), *self._retired]
        self._pollers.clear()
        self._retired.clear()
        self.polled_queues = ()
        await asyncio.gather(*(poller.stop(timeout) for poller in pollers))
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
