"""The fan-out model of notebook 08 (``chatlib/tools/scale_model.py``): calibrated against the
local stack, and behaving as the limits it models say it must.

The calibration is issue 27's claim: fed the per-stage costs measured on this machine (the
committed file ``benchmarks/fanout_model_calibration.py`` wrote), the model predicts the local
stack's p50 at N = 200 and 1,000 within 25 %. Nothing here is timed: the figures are read from
the file, and the model is arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from chatlib.tools import scale_model as model

CALIBRATION = model.local_calibration()
SIZES = sorted(int(size) for size in CALIBRATION["measured_p50_ms"])


def test_the_calibration_was_measured_by_its_script_at_200_and_1000():
    assert CALIBRATION["command"].startswith("python benchmarks/fanout_model_calibration.py")
    assert SIZES == [200, 1000]
    inputs = CALIBRATION["inputs"]
    # what the model is fed is measured stage by stage, not the figures it must predict
    assert set(inputs) == {
        "cores", "fixed_ms", "query_ms", "sender_cpu_us_per_post",
        "gateway_cpu_us_per_post", "client_cpu_us_per_frame", "other_work_cores",
    }  # fmt: skip
    assert all(inputs[key] > 0 for key in inputs if key not in ("query_ms", "other_work_cores"))
    assert set(inputs["query_ms"]) == set(inputs["other_work_cores"]) == {"1", "200", "1000"}


@pytest.mark.parametrize("size", SIZES)
def test_the_model_predicts_the_local_p50_within_25_percent(size):
    platform = model.local_platform(CALIBRATION["inputs"], size)
    predicted = model.single(platform, size + 1).last_ms  # N receivers and the sender
    measured = CALIBRATION["measured_p50_ms"][str(size)]
    assert abs(predicted / measured - 1) <= 0.25, (size, predicted, measured)


def test_the_local_platform_reproduces_the_room_of_one_it_was_fixed_by():
    platform = model.local_platform(CALIBRATION["inputs"], 1)
    assert model.single(platform, 2).last_ms == pytest.approx(CALIBRATION["inputs"]["fixed_ms"])
    assert platform.start_ms > 0, "the room of one costs more than its Query and two posts"


def test_other_work_on_the_machine_leaves_the_fan_out_fewer_cores():
    inputs = CALIBRATION["inputs"]
    quiet = {**inputs, "other_work_cores": {room: 0.0 for room in inputs["query_ms"]}}
    busy = {**quiet, "other_work_cores": {**quiet["other_work_cores"], "1000": 1.0}}
    assert model.local_platform(quiet, 1000).cores == inputs["cores"]
    assert model.local_platform(busy, 1000).cores == inputs["cores"] - 1
    assert (
        model.single(model.local_platform(busy, 1000), 1001).last_ms
        > model.single(model.local_platform(quiet, 1000), 1001).last_ms
    )


def test_a_post_waits_for_the_slowest_resource():
    base = model.Platform(start_ms=0, query_page_ms=0, query_cpu_us_per_id=0, sender_cpu_us=100)
    assert model.per_post_us(base) == 100  # one whole core, nothing else
    assert model.per_post_us(replace(base, memory_mb=model.ONE_VCPU_MB / 4)) == 400
    assert model.per_post_us(replace(base, post_rtt_ms=32)) == 2000  # 16 in flight
    assert model.per_post_us(replace(base, other_cpu_us=300, cores=2)) == 200


def test_one_invocation_fits_1000_members_on_aws_but_not_10000_or_100000():
    fits, budget, timeout = (model.single(model.AWS, n + 1) for n in (1_000, 10_000, 100_000))
    assert fits.broken == "" and fits.reached == 1_001
    assert "budget" in budget.broken
    assert "timeout" in timeout.broken


def test_a_cut_short_sender_reaches_only_the_members_it_posted_to_in_time():
    budget, timeout = (model.single(model.AWS, n + 1) for n in (10_000, 100_000))
    step_s = model.per_post_us(model.AWS) / 1e6
    # the budget: 4 s of posts at the pace of one invocation
    assert budget.reached == pytest.approx(model.AWS.budget_s / step_s, abs=1)
    assert budget.sender_ms < budget.last_ms
    # the timeout: what is left of 10 s after reading 100,001 rows
    posting_s = (model.AWS.start_ms + model.query_ms(model.AWS, 100_001)) / 1000
    assert timeout.reached == pytest.approx((model.AWS.timeout_s - posting_s) / step_s, abs=1)
    assert timeout.sender_ms == model.AWS.timeout_s * 1000


def test_the_query_reads_whole_rows_of_the_index_not_just_ids():
    # ALL projection: ~120 bytes a row, so a 1 MB page holds about 8,700 members
    assert model.QUERY_PAGE_BYTES // model.ITEM_BYTES == 8_738
    one_page = model.query_ms(model.AWS, 8_000)
    two_pages = model.query_ms(model.AWS, 9_000)
    parse = 1_000 * model.AWS.query_cpu_us_per_id / model.AWS.cpu_share / 1000
    assert two_pages - one_page == pytest.approx(model.AWS.query_page_ms + parse)


def test_a_sharded_sender_near_its_timeout_is_flagged_and_past_it_is_broken():
    assert model.sharded(model.AWS, 10_001).warning == ""
    near = model.sharded(model.AWS, 100_001)
    assert near.broken == "" and "of its 10 s timeout" in near.warning
    assert near.sender_ms / 1000 > model.SENDER_MARGIN * model.AWS.timeout_s
    slow = model.sharded(replace(model.AWS, query_cpu_us_per_id=20.0), 100_001)
    assert "past its 10 s timeout" in slow.broken and slow.reached == 0  # still reading
    # still queueing at 10 s: only the pages queued by then reach anyone
    queueing = model.sharded(replace(model.AWS, query_cpu_us_per_id=13.0), 100_001)
    assert "past its 10 s timeout" in queueing.broken
    assert 0 < queueing.reached < 100_001 and queueing.reached % 100 == 0  # whole pages
    # stopped while posting its own page: every queued page, and part of its own
    posting = model.sharded(replace(model.AWS, query_cpu_us_per_id=12.0), 100_001)
    assert "past its 10 s timeout" in posting.broken
    assert 100_001 - 100 < posting.reached < 100_001


def test_the_account_rate_bounds_every_post_of_a_sharded_fan_out():
    delivery = model.sharded(model.AWS, 100_001)
    floor_s = (100_001 - model.AWS.account_burst) / model.AWS.account_posts_per_s
    assert delivery.last_ms / 1000 >= floor_s
    unlimited = replace(model.AWS, account_posts_per_s=math.inf, account_burst=math.inf)
    assert model.sharded(unlimited, 100_001).last_ms < delivery.last_ms


def test_sharding_is_faster_past_a_page_and_the_same_within_one():
    for members in (1_001, 10_001):
        assert model.sharded(model.AWS, members).last_ms < model.single(model.AWS, members).last_ms
    within_a_page = model.sharded(model.AWS, 80)  # no queue hop: exactly one invocation
    assert within_a_page.last_ms == pytest.approx(model.single(model.AWS, 80).last_ms)
    assert within_a_page.invocations == 1


def test_a_cold_event_source_ramps_and_is_slower_than_a_warm_one():
    warm = model.sharded(model.AWS, 10_001)
    cold = model.sharded(model.AWS, 10_001, model.Sharding(warm=False))
    assert cold.last_ms > warm.last_ms + model.Sharding().cold_start_ms / 2
    assert warm.invocations == cold.invocations == 1 + 100


def test_the_sender_queues_every_page_but_its_own():
    assert [model.queued_pages(n) for n in (1, 100, 101, 1_000, 1_001)] == [0, 0, 1, 9, 10]
    assert model.queued_pages(1_000, page_size=2) == 499


def test_api_gateway_messages_are_most_of_the_cost_and_sqs_is_billed_only_when_sharded():
    members = 10_001
    single = model.cost_per_message(model.AWS, members, model.single(model.AWS, members))
    sharded = model.cost_per_message(
        model.AWS, members, model.sharded(model.AWS, members), sharding=model.Sharding()
    )
    assert single["SQS requests"] == 0 < sharded["SQS requests"]
    # the message in, and one out per member (the sender's own copy among them)
    assert single["API Gateway messages"] == pytest.approx((members + 1) * 1e-6)
    # read units count whole rows (ALL projection), not the ids returned
    rows_read = math.ceil(members * model.ITEM_BYTES / 4096) / 2
    assert single["DynamoDB reads"] == pytest.approx(rows_read * model.PRICES["dynamodb_read_unit"])
    for cost in (single, sharded):
        assert cost["API Gateway messages"] / cost["total"] > 0.9
        assert cost["total"] == pytest.approx(
            sum(value for key, value in cost.items() if key != "total")
        )


def test_large_frames_fill_a_batch_call_before_ten_pages():
    small, large = model.Sharding(), model.Sharding(frame_bytes=32 * 1024)
    assert model.pages_per_call(small) == 10
    assert model.pages_per_call(large) == 7  # 36 KB pages within chatlib's 256 KiB a call
    slow = model.sharded(model.AWS, 10_001, large)
    assert slow.sender_ms > model.sharded(model.AWS, 10_001, small).sender_ms
