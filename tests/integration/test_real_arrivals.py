"""Real order arrivals drive a live lab: a LOBSTER pair written here, converted by
``orchestration.arrivals`` (executions as market orders, submissions as limits priced from the
far touch) and sent by the injector; every order ends in exactly one terminal state."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.api import Lab
from orchestration.arrival_options import ArrivalOptions
from orchestration.arrivals import lobster_arrivals
from orchestration.streams import COLUMNS

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
MESSAGES = 24


def write_lobster_day(folder: Path) -> tuple[Path, Path]:
    """A one-level book at 99.90 x 100.00 and a message every 50 ms: by turns a visible
    execution (its side alternating), a new buy limit 2 cents under the ask, and a new sell
    limit 1 cent over the bid."""
    messages, book = [], []
    for k in range(MESSAGES):
        time_s = 34_200 + 0.05 * k
        match k % 3:
            case 0:
                direction = 1 if k % 2 else -1  # the resting order's side
                price = 999_000 if direction == 1 else 1_000_000
                messages.append(f"{time_s:.2f},4,{k},{100 + k},{price},{direction}")
            case 1:
                messages.append(f"{time_s:.2f},1,{k},{50 + k},999800,1")
            case _:
                messages.append(f"{time_s:.2f},1,{k},{30 + k},999100,-1")
        book.append("1000000,500,999000,500")
    message = folder / "ACME_2024-03-01_34200000_57600000_message_1.csv"
    orderbook = folder / "ACME_2024-03-01_34200000_57600000_orderbook_1.csv"
    message.write_text("\n".join(messages) + "\n")
    orderbook.write_text("\n".join(book) + "\n")
    return message, orderbook


@pytest.mark.timeout(120)
def test_real_lobster_arrivals_drive_the_injector_to_terminal_states(tmp_path: Path) -> None:
    lab = Lab(TINY, runs_root=tmp_path / "runs")
    options = ArrivalOptions(events="both")
    arrivals = lobster_arrivals(*write_lobster_day(tmp_path), lab.scenario, options)
    stream = pd.DataFrame(arrivals.rows, columns=list(COLUMNS))
    # 8 executions (messages 0, 3, ..., 21) and 16 submissions over 1.15 s
    assert len(stream) == 24 and (stream["order_type"] == "limit").sum() == 16
    assert stream["t_ns"].iloc[-1] == 1_150_000_000

    with lab:
        done = lab.inject(stream, timeout_s=30, close_after_s=1.0)
        orders = lab.table("orders").set_index("order_id")

    assert done["sent"] == done["terminal"] == len(stream)
    assert done["timed_out"] == 0
    sent = stream.set_index("order_id")
    assert orders.loc[sent.index, "side"].tolist() == sent["side"].tolist()
    assert orders.loc[sent.index, "order_type"].tolist() == sent["order_type"].tolist()
