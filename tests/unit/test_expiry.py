"""Order expiry: the receipt check every order-taking service applies (``expiry_error``) and the
wall-clock timer that cancels resting orders at their expiry (``call_at_wall``, under uvloop as
the services run)."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from services.runtime import call_at_wall
from services.venue.book_rules import expiry_error

T0 = 1_763_900_000_000_000_000


@pytest.mark.parametrize("now_ns", [T0 - 10**9, T0 - 1])
def test_expiry_error_before_expiry_is_none(now_ns: int) -> None:
    assert expiry_error(T0, now_ns) is None


def test_expiry_error_without_expiry_is_none() -> None:
    assert expiry_error(None, T0) is None


def test_expiry_error_at_expiry_refuses() -> None:
    assert expiry_error(T0, T0) == "expire_ns: expired: arrived 0.0 ms after its expiry"


def test_expiry_error_after_expiry_names_field_and_lateness() -> None:
    reason = expiry_error(T0, T0 + 12_340_000)

    assert reason == "expire_ns: expired: arrived 12.3 ms after its expiry"


def test_call_at_wall_never_runs_before_its_time() -> None:
    async def run() -> list[tuple[int, int]]:
        fired: list[tuple[int, int]] = []
        start = time.time_ns()
        whens = [start - 5_000_000] + [start + k * 1_300_000 for k in range(40)]
        for when in whens:
            call_at_wall(when, lambda w=when: fired.append((w, time.time_ns())))
        deadline = time.monotonic() + 5
        while len(fired) < len(whens) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return fired

    fired = uvloop.run(run())

    assert len(fired) == 41
    assert all(at >= when for when, at in fired)
    assert all(at - when < 1_000_000_000 for when, at in fired)  # and does run (2 cores, loaded)
