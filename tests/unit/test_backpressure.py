"""Backpressure's cores (``services.backpressure``): which new order ``Admission`` refuses busy,
with what reason, and the peaks and counts the heartbeat carries; ``ClientRates``' token bucket
per client."""

from __future__ import annotations

from services.backpressure import Admission, ClientRates

MS = 1_000_000
SENT = 1_800_000_000 * 1_000_000_000  # a wall-clock time, ns


def admission(pending: int = 3, queued: int = 100, lag_ms: int = 50) -> Admission:
    return Admission("sor", pending_bound=pending, queued_bound=queued, lag_bound_ns=lag_ms * MS)


def test_refusal_below_every_bound_accepts_and_records_the_peaks() -> None:
    bounds = admission()

    reasons = [bounds.refusal(b"broker", n, 10 * n, SENT, SENT + MS) for n in range(3)]

    assert reasons == [None, None, None]
    assert (bounds.pending_peak, bounds.queued_peak, bounds.refused) == (3, 20, 0)


def test_refusal_at_the_pending_bound_names_service_count_and_bound() -> None:
    bounds = admission(pending=3)

    reason = bounds.refusal(b"broker", 3, 0, SENT, SENT + MS)

    assert reason == "busy: sor queue full (3/3)"
    assert bounds.refused == 1
    assert bounds.pending_peak == 0  # a refused order is not worked


def test_refusal_at_the_queued_bound_names_the_send_queues() -> None:
    bounds = admission(queued=100)

    assert bounds.refusal(b"broker", 0, 99, SENT, SENT + MS) is None
    assert bounds.refusal(b"broker", 0, 100, SENT, SENT + MS) == (
        "busy: sor send queues full (100/100)"
    )
    assert bounds.queued_peak == 100


def test_lag_counts_only_the_wait_beyond_the_senders_smallest_age() -> None:
    bounds = admission(lag_ms=50)
    offset = 7_000 * MS  # the sender's clock runs 7 s behind: its orders all look 7 s old

    first = bounds.refusal(b"broker", 0, 0, SENT, SENT + offset + 2 * MS)
    waited_40 = bounds.refusal(b"broker", 0, 0, SENT, SENT + offset + 42 * MS)
    waited_60 = bounds.refusal(b"broker", 0, 0, SENT, SENT + offset + 62 * MS)

    assert (first, waited_40) == (None, None)
    assert waited_60 == "busy: sor behind (60 ms/50 ms)"
    assert bounds.lag_peak_ns == 60 * MS


def test_lag_base_is_kept_per_sender_and_lowered_by_a_faster_order() -> None:
    bounds = admission()

    bounds.refusal(b"a", 0, 0, SENT, SENT + 30 * MS)  # a's base: 30 ms
    assert bounds.lag_ns(b"b", SENT, SENT + 1 * MS) == 0  # b has its own base
    assert bounds.lag_ns(b"a", SENT, SENT + 45 * MS) == 15 * MS
    assert bounds.lag_ns(b"a", SENT, SENT + 10 * MS) == 0  # a new, smaller base
    assert bounds.lag_ns(b"a", SENT, SENT + 30 * MS) == 20 * MS


def test_counters_carry_refusals_peaks_and_bounds_for_the_heartbeat() -> None:
    bounds = admission(pending=1, queued=100, lag_ms=50)
    bounds.refusal(b"broker", 0, 5, SENT, SENT + MS)
    bounds.refusal(b"broker", 1, 7, SENT, SENT + 4 * MS)

    assert bounds.counters() == {
        "busy.refused": 1,
        "busy.pending_peak": 1,
        "busy.pending_bound": 1,
        "busy.queued_peak": 7,
        "busy.queued_bound": 100,
        "busy.lag_peak_us": 3_000,
        "busy.lag_bound_us": 50_000,
    }


def test_an_order_without_a_known_send_time_is_never_refused_for_lag() -> None:
    bounds = admission(lag_ms=50)
    bounds.refusal(b"client", 0, 0, None, SENT)

    assert bounds.refusal(b"client", 0, 0, None, SENT + 10_000 * MS) is None
    assert bounds.lag_peak_ns == 0


def test_client_rates_allow_a_burst_then_refuse_until_tokens_refill() -> None:
    rates = ClientRates(rate_per_s=10, burst=3)

    burst = [rates.allow(b"alice", SENT) for _ in range(4)]
    after_99_ms = rates.allow(b"alice", SENT + 99 * MS)  # 0.99 of a token back
    after_100_ms = rates.allow(b"alice", SENT + 100 * MS)  # one token at 10/s

    assert burst == [True, True, True, False]
    assert (after_99_ms, after_100_ms) == (False, True)


def test_client_rates_are_per_client_and_never_hold_more_than_the_burst() -> None:
    rates = ClientRates(rate_per_s=10, burst=2)
    assert [rates.allow(b"alice", SENT) for _ in range(3)] == [True, True, False]

    assert rates.allow(b"bob", SENT)  # bob has his own bucket
    later = SENT + 60_000 * MS  # a minute idle refills to the burst only
    assert [rates.allow(b"alice", later) for _ in range(3)] == [True, True, False]
    assert rates.reason(b"alice") == "rate: client 'alice' over 10 messages/s (burst 2)"


def test_client_rates_under_curve_share_one_bucket_per_key_whatever_the_routing_id() -> None:
    rates = ClientRates(rate_per_s=10, burst=2)

    rotating = [rates.allow(f"alice-{n}".encode(), SENT, user="alice") for n in range(3)]
    other_key = rates.allow(b"alice-0", SENT, user="bob")  # bob's key: his own bucket

    assert rotating == [True, True, False]  # a fresh routing id is no fresh bucket
    assert other_key
    assert rates.reason(b"alice-2", "alice") == (
        "rate: client 'alice-2' (key 'alice') over 10 messages/s (burst 2)"
    )


def test_client_rates_without_keys_fall_back_to_one_bucket_per_routing_id() -> None:
    rates = ClientRates(rate_per_s=10, burst=1)

    first = [rates.allow(b"alice-1", SENT), rates.allow(b"alice-1", SENT)]
    rotated = rates.allow(b"alice-2", SENT)  # mode "none": nothing ties the two ids together

    assert first == [True, False]
    assert rotated
    assert ClientRates.client_of(b"alice-1", None) != ClientRates.client_of(b"alice-1", "alice")
