"""Markers follow folders: every test under ``tests/integration/`` is marked ``integration`` here
(no module marks itself), and a test elsewhere that carries the mark stops the run, so
``-m integration`` and ``-m "not integration"`` always split the suite exactly by folder."""

from __future__ import annotations

from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parent / "integration"


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.integration)
        elif item.get_closest_marker("integration") is not None:
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(
            "marked integration outside tests/integration/ (move them there): "
            + ", ".join(misplaced)
        )
