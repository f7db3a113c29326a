"""Rejected frames: every one counted, only a few logged per peer (a flood writes a few lines)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import pytest
import zmq
import zmq.asyncio

from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from protocol.errors import ProtocolError
from services.runtime import REJECT_LOG_EVERY, REJECT_LOG_FIRST, Service, reject_logged


class _Pull:
    """A socket nobody answers on (a PULL): rejects are counted and logged, never replied to."""

    type = zmq.PULL


@pytest.mark.parametrize(
    ("n", "logged"),
    [
        (1, True),
        (REJECT_LOG_FIRST, True),
        (REJECT_LOG_FIRST + 1, False),
        (REJECT_LOG_EVERY - 1, False),
        (REJECT_LOG_EVERY, True),
        (3 * REJECT_LOG_EVERY, True),
    ],
)
def test_reject_logged_keeps_the_first_few_then_every_thousandth(n: int, logged: bool) -> None:
    assert reject_logged(n) is logged


def test_a_flood_of_garbage_is_counted_in_full_and_logged_a_few_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(resolve_loopback(load_scenario(), tmp_path), "probe", install_signals=False)
    sock = cast(zmq.asyncio.Socket, _Pull())
    error = ProtocolError("type", "unknown or unaccepted message type")

    with caplog.at_level(logging.WARNING, logger="services.runtime"):
        for _ in range(5 * REJECT_LOG_EVERY):
            service._reject_frame(sock, b"flooder", error)
        service._reject_frame(sock, b"someone-else", error)

    assert service.counters["rejected.protocol"] == 5 * REJECT_LOG_EVERY + 1
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == REJECT_LOG_FIRST + 5 + 1
    assert f"(rejected: {5 * REJECT_LOG_EVERY})" in lines[-2]
    assert "b'someone-else' (rejected: 1)" in lines[-1]
