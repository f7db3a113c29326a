"""flowlab from Python: a live, multi-process lab for retail order routing (PFOF, order-by-order
auctions, smart order routing), as DataFrames.

    import flowlab

    with flowlab.Lab("default", regimes=["pfof", "auction"], seed=7) as lab:
        lab.inject(lab.generate(orders=300, rate=100))
        lab.table("rule605")          # any table of docs/TABLES.md
        lab.comparisons()             # differences between regimes, with 95% intervals

    result = flowlab.compare(regimes=["pfof", "auction"], orders=400)
    result.comparisons

See docs/API.md. ``orchestration.api`` is the same API under its older name.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from orchestration.api import (
    TABLE_NAMES,
    Comparison,
    Lab,
    LabError,
    StreamError,
    compare,
)
from orchestration.stream_options import StreamOptions

__all__ = [
    "TABLE_NAMES",
    "Comparison",
    "Lab",
    "LabError",
    "StreamError",
    "StreamOptions",
    "__version__",
    "compare",
]

try:
    __version__ = version("flowlab")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "unknown"
