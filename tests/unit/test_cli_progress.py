"""What ``flowlab inject`` and ``flowlab sor`` show while they run: the injector's account line
and the rounds x strategies progress of the SOR comparison."""

from __future__ import annotations

import io
from types import SimpleNamespace

from orchestration.inject_view import account_line
from orchestration.sor_progress import SorProgress, round_of


def test_account_line_counts_sent_filled_open_canceled_rejected() -> None:
    injector = SimpleNamespace(
        sent={f"o{i}": "ACME" for i in range(7)},
        terminal={"o0": "filled", "o1": "filled", "o2": "canceled", "o3": "rejected"},
    )

    line = account_line(injector, total=10, elapsed_s=2.25)

    assert line == "sent 7/10  filled 2  open 3  canceled 1  rejected 1  2.2s"


def test_account_line_before_the_injector_is_set_up_counts_nothing() -> None:
    assert account_line(SimpleNamespace(), total=1_000, elapsed_s=0).startswith(
        "sent 0/1,000  filled 0  open 0"
    )


def test_round_of_parent_ids() -> None:
    assert [round_of("sor-r1-3"), round_of("sor-r12-1"), round_of("x")] == [1, 12, 0]


def batch(round_number: int, strategies: list[str]) -> list[dict[str, object]]:
    return [
        {"order_id": f"sor-r{round_number}-{i + 1}", "strategy": name}
        for i, name in enumerate(strategies)
    ]


def test_sor_progress_plain_one_line_per_injection() -> None:
    out = io.StringIO()
    done = SimpleNamespace(terminal=1, sent=1)

    with SorProgress(2, 3, live=False, out=out) as progress:
        progress.batch_done(batch(1, ["greedy"]), done, 1.5)
        progress.batch_done(batch(1, ["twap", "pov"]), SimpleNamespace(terminal=2, sent=2), 3.0)

    lines = out.getvalue().splitlines()
    assert lines == [
        "  round 1/2, 1/6 parents: greedy: 1/1 ended in 1.5s",
        "  round 1/2, 3/6 parents: twap, pov: 2/2 ended in 3.0s",
    ]


def test_sor_progress_bar_counts_parents_and_moves_to_the_next_round() -> None:
    out = io.StringIO()

    with SorProgress(2, 3, live=True, out=out) as progress:
        progress.batch_done(
            batch(1, ["greedy", "twap", "pov"]), SimpleNamespace(terminal=3, sent=3), 2.0
        )
        task = progress._progress.tasks[0] if progress._progress else None

    assert task is not None
    assert (task.completed, task.total, task.fields["round"]) == (3, 6, 2)
    assert "round 2/2" in out.getvalue()
