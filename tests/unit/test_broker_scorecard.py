"""The broker's execution-quality scorecard and the PFOF flow split it drives, by hand."""

from __future__ import annotations

import random

import pytest

from services.broker.scorecard import Scorecard


def fill(
    card: Scorecard, name: str, orders: int, shares_each: int, pi: int, half: int = 100
) -> None:
    """``pi`` micro-dollars of improvement per share on a ``half`` micro-dollar half-spread
    (100 by default: ``pi`` is then the percentage of the half-spread given back)."""
    for _ in range(orders):
        card.sent(name)
        card.filled(name, shares_each, pi, half, 1_000_000)


def test_no_evidence_splits_flow_evenly() -> None:
    card = Scorecard(["a", "b", "c"])
    grades = card.review()
    assert [g.share for g in grades] == pytest.approx([1 / 3] * 3)
    assert not any(g.demoted for g in grades)


def test_shares_follow_improvement_times_fill_rate_with_a_floor_and_demotion() -> None:
    card = Scorecard(["a", "b", "c"], window=3, floor=0.05, tolerance=0.8)
    fill(card, "a", 4, 100, 50)  # score 50 x 4/4 = 50
    fill(card, "b", 2, 100, 60)  # 60 x 2/4 = 30: two orders declined
    card.sent("b")
    card.sent("b")
    fill(card, "c", 2, 100, 45)  # 45
    grades = {g.name: g for g in card.review()}
    # best 50, bar 40: b is demoted to the floor; a and c share 0.85 in proportion 50 : 45.
    assert grades["b"].demoted and grades["b"].share == pytest.approx(0.05)
    assert grades["a"].share == pytest.approx(0.05 + 0.85 * 50 / 95)
    assert grades["c"].share == pytest.approx(0.05 + 0.85 * 45 / 95)
    assert (grades["b"].fill_rate, grades["b"].improvement_per_share) == (0.5, 60)
    assert sum(card.shares.values()) == pytest.approx(1.0)


def test_a_demoted_wholesaler_wins_flow_back_by_improving() -> None:
    card = Scorecard(["a", "b"], window=2, floor=0.1, tolerance=0.8)
    fill(card, "a", 5, 100, 50)
    fill(card, "b", 5, 100, 20)
    assert card.review()[1].demoted
    fill(card, "a", 5, 100, 50)
    fill(card, "b", 5, 100, 90)  # window: b (20*500 + 90*500) / 1000 = 55 > a's 50
    grades = {g.name: g for g in card.review()}
    assert not grades["b"].demoted and grades["b"].improvement_per_share == 55
    assert grades["b"].share == pytest.approx(0.1 + 0.8 * 55 / 105)
    assert grades["a"].share == pytest.approx(0.1 + 0.8 * 50 / 105)


def test_old_periods_leave_the_window_but_the_last_score_is_remembered() -> None:
    card = Scorecard(["a", "b"], window=2, floor=0.05, tolerance=1.0)
    fill(card, "a", 3, 100, 50)
    card.review()
    card.review()  # a's fills have left the two-period window: it keeps its last score (0.5)
    assert [g.share for g in card.review()] == pytest.approx([0.95, 0.05])
    assert card.last == {"a": 0.5}


def test_a_leader_is_ranked_against_a_rivals_remembered_score() -> None:
    """b earned 0.6 once and has had no order since (held at the floor); a, alone in the
    window, now gives back 0.4: ranked against b's remembered 0.6, a is demoted."""
    card = Scorecard(["a", "b"], window=2, floor=0.05, tolerance=1.0)
    fill(card, "a", 3, 100, 50)
    fill(card, "b", 1, 100, 60)
    card.review()
    card.review()
    card.review()  # nobody in the window: both ranked on memory, b (0.6) leads
    fill(card, "a", 5, 100, 40)
    grades = {g.name: g for g in card.review()}
    assert grades["a"].demoted and grades["a"].share == pytest.approx(0.05)
    assert grades["b"].share == pytest.approx(0.95) and grades["b"].sent == 0


def test_orders_sent_and_none_filled_score_zero() -> None:
    card = Scorecard(["a", "b"], window=2, floor=0.05, tolerance=0.7)
    fill(card, "a", 2, 100, 50)
    card.sent("b")
    card.sent("b")  # both declined
    grades = {g.name: g for g in card.review()}
    assert grades["b"].demoted and grades["b"].score == 0.0
    assert card.last["b"] == 0.0


def test_choose_draws_with_the_shares() -> None:
    card = Scorecard(["a", "b", "c"], floor=0.05)
    fill(card, "a", 4, 100, 80)
    fill(card, "c", 4, 100, 20)  # c: 20 < 0.8 x 80, demoted; b: no fills, the floor
    card.review()
    rng = random.Random(7)
    n = 20_000
    draws = [card.choose(rng) for _ in range(n)]
    for name, p in card.shares.items():
        sd = (p * (1 - p) / n) ** 0.5
        assert abs(draws.count(name) / n - p) < 4 * sd
    assert card.shares["a"] == pytest.approx(0.9)


def test_floor_must_leave_room() -> None:
    with pytest.raises(ValueError, match="floor"):
        Scorecard(["a", "b", "c"], floor=0.4)


def test_scores_are_relative_to_the_quoted_spread_not_dollars() -> None:
    """a gives back 40% of a $0.024 half-spread ($0.0096/share), b 60% of a $0.008 one
    ($0.0048/share): in dollars a looks twice as good; per the spread b is better, and b is
    the one kept. By hand: scores 0.4 and 0.6, bar 0.7 x 0.6 = 0.42 demotes a."""
    card = Scorecard(["a", "b"], window=2, floor=0.05, tolerance=0.7)
    fill(card, "a", 4, 100, 9_600, half=24_000)
    fill(card, "b", 4, 100, 4_800, half=8_000)
    grades = {g.name: g for g in card.review()}
    assert grades["a"].improvement_per_share == 9_600 and grades["a"].improvement_bp == 4_000
    assert grades["b"].improvement_bp == 6_000
    assert grades["a"].demoted and not grades["b"].demoted
    assert grades["b"].share == pytest.approx(0.95)
