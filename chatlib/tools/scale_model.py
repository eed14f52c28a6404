"""How long one message takes to reach a room of N, and what it costs: one invocation posting to
every member, or the sharded fan-out through SQS (issue 27; the design is the sharded one the
template's ``FanOut: sharded`` deploys). Notebook 08 builds the first part in small cells and
then reads this module; ``tests/test_fanout_model.py`` holds it to the local stack's figures.

**One invocation** (``chatlib/fanout.py``): the handler starts (``start_ms``: the hops in, the
sender's GetItem), reads the room (one Query round trip per 1 MB page, plus parsing each id),
then posts. The Query reads whole items: the ``roomId`` index projects ALL, so a 1 MB page
holds about 8,700 rows of ~120 bytes whatever ``ProjectionExpression`` returns (DynamoDB
counts the bytes read, not those returned). Posts leave at the pace of the slowest of three things:

    per post = max(sender CPU per post / the function's CPU share,   # 1,769 MB = one vCPU
                   one post's round trip / posts in flight,          # the window of 16
                   CPU of every process busy per post / cores)       # here: sender, gateway,
                                                                     #   client on the cores
                                                                     #   other work left
and member k of the room has the frame ``k × per post`` after the posting starts, unless the
sender's delivery budget (``chatlib.limits.SEND_BUDGET_SECONDS``: it stops starting posts
after 4 s) or the function's timeout cuts the posting short first: :attr:`Delivery.reached`
counts who gets it. The API Gateway account's request rate (10,000 a second, burst 5,000, a
token bucket; 2,500 and 1,250 in thirteen Regions) bounds every post of every invocation
together.

**Sharded** (the sender queues every page of ``page_size`` ids but the first, up to ``batch``
pages and chatlib's cap of 256 KiB per ``SendMessageBatch`` (SQS allows 1 MiB since 2025;
``page_queue.SQS_BATCH_BYTES`` keeps the old limit), then posts the first itself, as
``chatlib/handlers/sending.py`` does; each queued page is one worker invocation): a small
discrete-event simulation. A page is in the queue when its batch call returns, a worker takes
it ``receive_ms`` later, once a worker is free or the event source's concurrency allows one more
(Lambda starts with 5 and adds up to 300 a minute, to ``max_concurrency``); a new worker
instance pays a cold start, a reused one a warm start; then it posts its page as above. The
sender itself reads the whole room and queues every batch before its own page: at 100,000 that
is most of its timeout, which :attr:`Delivery.warning` says.

Everything here is arithmetic on stated inputs (no I/O but :func:`local_calibration`'s read of
the committed measurements), so a test can hold it to them and a learner can change any of them.
"""

from __future__ import annotations

import heapq
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from chatlib.handlers.page_queue import SQS_BATCH_BYTES
from chatlib.limits import (
    FANOUT_MAX_IN_FLIGHT,
    FANOUT_PAGE_SIZE,
    SEND_BUDGET_SECONDS,
    SQS_BATCH_ENTRIES,
)

__all__ = [
    "AWS",
    "PRICES",
    "Delivery",
    "Platform",
    "Sharding",
    "cost_per_message",
    "local_calibration",
    "local_platform",
    "page_bytes",
    "pages_per_call",
    "per_post_us",
    "queued_pages",
    "sharded",
    "single",
]

#: The measurements ``benchmarks/fanout_model_calibration.py`` wrote on this project's machine.
CALIBRATION = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
CALIBRATION_FILE = CALIBRATION / "fanout_model_calibration.json"
#: Lambda gives a function one vCPU's worth of CPU at 1,769 MB, in proportion below it.
ONE_VCPU_MB = 1769
#: Bytes one row of the room takes in a Query page and in its read units: the ``roomId``
#: index projects ALL (``infra_cfn/chat.yaml``), and a row holds connectionId, roomId, userId,
#: connectedAt, ttl and sometimes expiresAt, names and values: about 120 bytes. DynamoDB
#: counts what it reads, not what ``ProjectionExpression`` returns; only a KEYS_ONLY index
#: (~40 bytes a row) would fit about 25,000 ids in a page.
ITEM_BYTES = 120
#: Bytes one id takes in a queued page's JSON (16 characters, quotes, comma; room to spare).
PAGE_ID_BYTES = 40
QUERY_PAGE_BYTES = 1024 * 1024
#: The least share of the machine the local stack is taken to have, however busy it was.
MIN_CORES = 0.25


@dataclass(frozen=True)
class Platform:
    """Where a fan-out runs: each stage's cost, and the limits that bind it."""

    start_ms: float  # frame in -> handler posting its first id, less the Query; result back
    query_page_ms: float  # one Query page's round trip
    query_cpu_us_per_id: float  # parsing one id of the answer, on a whole core
    sender_cpu_us: float  # the sender's CPU per post, on a whole core
    memory_mb: float = ONE_VCPU_MB  # the function's memory: its CPU share
    post_rtt_ms: float = 0.0  # one @connections post's round trip
    in_flight: int = FANOUT_MAX_IN_FLIGHT  # posts in flight at once
    other_cpu_us: float = 0.0  # CPU per post of processes sharing the cores (here only)
    cores: float = math.inf  # the cores all those share
    account_posts_per_s: float = math.inf  # API Gateway's account rate
    account_burst: float = math.inf
    timeout_s: float = math.inf  # the function's timeout
    budget_s: float = math.inf  # the sender's delivery budget (chatlib.limits)

    @property
    def cpu_share(self) -> float:
        return min(1.0, self.memory_mb / ONE_VCPU_MB)


@dataclass(frozen=True)
class Delivery:
    """One message to a room: when its members have it, and whether the invocation fits."""

    half_ms: float  # half the room has the frame (not a median over messages)
    last_ms: float  # every member has it, were nothing cut short
    sender_ms: float  # how long the sender's invocation runs
    invocations: int  # the sender plus one per queued page
    reached: int = 0  # members who get the frame before a budget or timeout stops the sender
    worker_ms: float = 0.0  # all workers' run time added up (what Lambda bills)
    broken: str = ""  # why the design cannot deliver to everyone ("" if it can)
    warning: str = ""  # a limit it comes close to ("" if none)


def per_post_us(platform: Platform) -> float:
    """Microseconds between two posts of one invocation: its slowest resource."""
    return max(
        platform.sender_cpu_us / platform.cpu_share,
        platform.post_rtt_ms * 1000 / platform.in_flight,
        (platform.sender_cpu_us + platform.other_cpu_us) / platform.cores,
    )


def query_ms(platform: Platform, members: int) -> float:
    """Reading the room's ids: a round trip per 1 MB page, and parsing each id."""
    pages = max(1, math.ceil(members * ITEM_BYTES / QUERY_PAGE_BYTES))
    parse = members * platform.query_cpu_us_per_id / platform.cpu_share / 1000
    return pages * platform.query_page_ms + parse


def _rate_floor(platform: Platform, times: list[float], offset_ms: float) -> list[float]:
    """Post number j (in time order) cannot be answered before the account's rate allows it."""
    if math.isinf(platform.account_posts_per_s):
        return sorted(times)
    floor = []
    for j, t in enumerate(sorted(times)):
        allowed = max(0.0, j - platform.account_burst) / platform.account_posts_per_s * 1000
        floor.append(max(t, offset_ms + allowed))
    return floor


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return ordered[(len(ordered) - 1) // 2], ordered[-1]


def single(platform: Platform, members: int) -> Delivery:
    """One invocation reads the room and posts to every member (the sender included)."""
    posting = platform.start_ms + query_ms(platform, members)
    step = per_post_us(platform) / 1000
    times = _rate_floor(platform, [posting + k * step for k in range(1, members + 1)], posting)
    half, last = _summary(times)
    # the budget stops new posts 4 s into the posting; the timeout stops the function
    budget_ends, timeout_ends = posting + platform.budget_s * 1000, platform.timeout_s * 1000
    reached = sum(t <= min(budget_ends, timeout_ends) for t in times)
    broken = ""
    if reached < members:
        broken = (
            f"stopped by the function's {platform.timeout_s:g} s timeout"
            if timeout_ends <= budget_ends
            else f"stopped by the sender's {platform.budget_s:g} s delivery budget"
        )
    sender = min(last, budget_ends, timeout_ends)
    return Delivery(half, last, sender, 1, reached=reached, broken=broken)


@dataclass(frozen=True)
class Sharding:
    """The sharded fan-out's knobs and the hops it adds (assumptions for AWS, stated)."""

    page_size: int = FANOUT_PAGE_SIZE
    batch: int = SQS_BATCH_ENTRIES  # pages per SendMessageBatch (SQS's maximum)
    batch_bytes: int = SQS_BATCH_BYTES  # and bytes per call (chatlib's cap)
    frame_bytes: int = 200  # the chat frame each page carries (API Gateway allows 32 KB)
    send_batch_ms: float = 15.0  # one SendMessageBatch round trip
    receive_ms: float = 20.0  # in the queue -> a worker's invocation has it
    warm_start_ms: float = 5.0
    cold_start_ms: float = 500.0  # an assumption: a Python function with boto3 imported
    max_concurrency: int = 1000  # the event source's MaximumConcurrency (2-1,000)
    initial_concurrency: int = 5  # Lambda's pollers start with five batches at a time
    concurrency_per_minute: float = 300.0  # and add up to 300 more a minute
    warm: bool = True  # a busy chat: pollers scaled and instances warm already


def page_bytes(sharding: Sharding) -> int:
    """One queued page's body: the frame, the ids, the endpoint and the JSON around them."""
    return sharding.frame_bytes + sharding.page_size * PAGE_ID_BYTES + 200


def pages_per_call(sharding: Sharding) -> int:
    """Pages one ``SendMessageBatch`` carries: ten, fewer when large frames fill chatlib's
    256 KiB a call (SQS's own limit is 1 MiB since 2025)."""
    return max(1, min(sharding.batch, sharding.batch_bytes // page_bytes(sharding)))


def queued_pages(members: int, page_size: int = FANOUT_PAGE_SIZE) -> int:
    """Pages the sender queues: every page but the first, which it posts itself."""
    return max(0, math.ceil(members / page_size) - 1)


def sharded(platform: Platform, members: int, sharding: Sharding = Sharding()) -> Delivery:
    """The sharded fan-out of one message, simulated page by page."""
    step = per_post_us(platform) / 1000
    read = platform.start_ms + query_ms(platform, members)
    pages = queued_pages(members, sharding.page_size)
    per_call = pages_per_call(sharding)
    batches = math.ceil(pages / per_call)
    # the sender queues every batch, then posts its own page
    posting = read + batches * sharding.send_batch_ms
    first = min(members, sharding.page_size)
    times = [posting + k * step for k in range(1, first + 1)]
    own = times[:]  # the sender's own page
    sender_ms = posting + first * step
    workers: list[float] = []  # when each worker instance started so far is free again
    billed = 0.0
    for page in range(pages):
        ready = read + (page // per_call + 1) * sharding.send_batch_ms + sharding.receive_ms
        size = min(sharding.page_size, members - (page + 1) * sharding.page_size)
        options = []  # (when its posting begins, whether an instance is reused)
        if workers:
            options.append((max(ready, workers[0]) + sharding.warm_start_ms, True))
        opens = _slot_opens(sharding, len(workers) + 1, read)
        if opens < math.inf:
            start = sharding.warm_start_ms if sharding.warm else sharding.cold_start_ms
            options.append((max(ready, opens) + start, False))
        begin, reused = min(options)
        if reused:
            heapq.heappop(workers)
        times += [begin + k * step for k in range(1, size + 1)]
        done = begin + size * step
        billed += done - begin + sharding.warm_start_ms
        heapq.heappush(workers, done)
    times = _rate_floor(platform, times, read)
    half, last = _summary(times)
    broken = warning = ""
    if sender_ms / 1000 > platform.timeout_s:
        broken = f"the sender runs past its {platform.timeout_s:g} s timeout"
    elif sender_ms / 1000 > SENDER_MARGIN * platform.timeout_s:
        warning = (
            f"the sender runs {sender_ms / 1000:.1f} s of its {platform.timeout_s:g} s timeout"
        )
    reached = members
    if broken:  # what was queued before the timeout, and the sender's own posts within it
        timeout_ms = platform.timeout_s * 1000
        calls_done = max(0, min(batches, math.floor((timeout_ms - read) / sharding.send_batch_ms)))
        queued = min(pages, calls_done * per_call)
        in_queue = min(members - first, queued * sharding.page_size)
        reached = in_queue + sum(t <= timeout_ms for t in own)
    return Delivery(
        half, last, sender_ms, 1 + pages, reached=reached, worker_ms=billed, broken=broken,
        warning=warning,
    )  # fmt: skip


#: A sender that runs more than this share of its timeout has no room for a slow Query page
#: or a retried batch: :func:`sharded` warns.
SENDER_MARGIN = 0.75


def _slot_opens(sharding: Sharding, nth: int, since_ms: float) -> float:
    """When the event source may run its ``nth`` worker at once (``inf``: never)."""
    if nth > sharding.max_concurrency:
        return math.inf
    if sharding.warm or nth <= sharding.initial_concurrency:
        return since_ms
    minutes = (nth - sharding.initial_concurrency) / sharding.concurrency_per_minute
    return since_ms + minutes * 60_000


#: Published prices, us-east-1, December 2026 (each page says how it is metered):
#: https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/sqs/pricing/,
#: https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/dynamodb/pricing/on-demand/
PRICES = {
    "lambda_gb_second": 0.0000166667,  # x86
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue; each 64 KB of a request is one request
    "apigw_message": 1.00 / 1e6,  # WebSocket, first billion a month; 32 KB increments
    "dynamodb_read_unit": 0.125 / 1e6,  # on-demand; 4 KB eventually consistent = 0.5 unit
}


def cost_per_message(
    platform: Platform,
    members: int,
    delivery: Delivery,
    *,
    sharding: Sharding | None = None,
) -> dict[str, float]:
    """Dollars one message costs, by what is billed.

    ``members`` counts the sender, who gets its own copy: API Gateway bills the message in and
    one message out per member, ``1 + members``. Left out, as monthly rather than per-message
    costs: connection minutes, and the ReceiveMessage long polls the event source makes while
    the queue is idle (billed as SQS requests)."""
    gb = platform.memory_mb / 1024
    seconds = (delivery.sender_ms + delivery.worker_ms) / 1000
    cost = {
        "API Gateway messages": (1 + members) * PRICES["apigw_message"],
        "Lambda GB-seconds": seconds * gb * PRICES["lambda_gb_second"],
        "Lambda requests": delivery.invocations * PRICES["lambda_request"],
        "DynamoDB reads": math.ceil(members * ITEM_BYTES / 4096) / 2 * PRICES["dynamodb_read_unit"],
        "SQS requests": 0.0,
    }
    if sharding is not None:
        pages = queued_pages(members, sharding.page_size)
        body = page_bytes(sharding)
        chunks = math.ceil(body / 65536)
        per_call = pages_per_call(sharding)
        sends = math.ceil(pages / per_call) * math.ceil(min(pages, per_call) * body / 65536)
        # each page received once and deleted once
        cost["SQS requests"] = (sends + pages * chunks + pages) * PRICES["sqs_request"]
    cost["total"] = sum(cost.values())
    return cost


#: AWS, as assumed for the predictions: the template's 256 MB and 10 s, the sender's 4 s
#: budget, API Gateway's account rate (most Regions); the sender's CPU per post is the
#: calibration's 103.9 µs, rounded (runs on this shared machine measured 85 to 130 µs); the
#: round trips and the 10 µs of parsing a Query row (this machine's Query slope, 22.5 µs a
#: row, includes the embedded AWS's own work on the same cores) are assumptions.
AWS = Platform(
    start_ms=25.0,
    query_page_ms=10.0,
    query_cpu_us_per_id=10.0,
    sender_cpu_us=104.0,
    memory_mb=256,
    post_rtt_ms=10.0,
    account_posts_per_s=10_000,
    account_burst=5_000,
    timeout_s=10.0,
    budget_s=SEND_BUDGET_SECONDS,
)


def local_calibration(path: Path = CALIBRATION_FILE) -> dict:
    """What ``benchmarks/fanout_model_calibration.py`` measured and committed."""
    return json.loads(path.read_text())


def local_platform(inputs: dict, size: int = 1) -> Platform:
    """This machine's stack as a :class:`Platform`, from the calibration's measured inputs,
    for a prediction at a room of ``size`` receivers.

    The room of one fixes the start (its p50 less its Query and its two posts); the Query's
    time per id is the slope between the smallest and largest room read; the cores the fan-out's
    processes share are the machine's less what its other work took while that room was timed
    (a shared machine's CPU the stack could not have had)."""

    def cores(room: int) -> float:
        taken = inputs.get("other_work_cores", {}).get(str(room), 0.0)
        return max(inputs["cores"] - taken, MIN_CORES)

    queries = {int(room): ms for room, ms in inputs["query_ms"].items()}
    small, large = min(queries), max(queries)
    per_id_us = (queries[large] - queries[small]) / (large - small) * 1000
    platform = Platform(
        start_ms=0.0,
        query_page_ms=queries[small] - per_id_us * (small + 1) / 1000,
        query_cpu_us_per_id=per_id_us,
        sender_cpu_us=inputs["sender_cpu_us_per_post"],
        other_cpu_us=inputs["gateway_cpu_us_per_post"] + inputs["client_cpu_us_per_frame"],
        cores=cores(1),
    )
    room_of_one = single(platform, 2)  # the sender and one receiver
    return replace(platform, start_ms=inputs["fixed_ms"] - room_of_one.last_ms, cores=cores(size))
