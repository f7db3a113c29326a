"""A report as a list of blocks, rendered to Markdown or to one self-contained HTML page.

Both renderings come from the same blocks, so ``report.md`` and ``report.html`` always say the
same thing; the HTML embeds every plot as a base64 PNG ``data:`` URI and its own CSS, and links
to nothing outside itself.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Formatter = Callable[[object], str]
Column = tuple[str, str, Formatter]  # (header, key, formatter)


def number(places: int, signed: bool = False) -> Formatter:
    sign = "+" if signed else ""

    def format_number(value: object) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "n/a"
        rounded = round(float(value), places) + 0.0  # type: ignore[arg-type]  # no "-0.00"
        return f"{rounded:{sign},.{places}f}"

    return format_number


def text(value: object) -> str:
    """A text cell; a missing value is blank (and counts as no data)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def is_text(fmt: Formatter) -> bool:
    """Text columns are left-aligned; every other formatter makes a number."""
    return fmt is str or fmt is text


def percent(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{100 * value:.1f}%"  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Text:
    """A paragraph; ``**bold**`` and ``code`` spans are kept in both renderings."""

    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows shown under ``columns``. A column no row has a value in is left out and named in a
    note under the table, with its reason from ``empty_reasons`` (by key) or a generic one."""

    rows: Sequence[dict]
    columns: list[Column]
    empty_reasons: Mapping[str, str] = field(default_factory=dict)


EMPTY_CELLS = frozenset({"", "n/a", "unavailable", "-"})
NO_VALUE = "no row has a value in this run"
# a realized spread's horizon (a markout) that no fill of the run reached
AFTER_RUN = "the run's NBBO ends less than the horizon after every fill: the run is too short"


def shown_columns(table: Table) -> tuple[list[Column], str | None]:
    """The columns with data, and a note naming those left out and why (None: none were)."""
    if not table.rows:
        return table.columns, None
    kept: list[Column] = []
    dropped: dict[str, list[str]] = {}
    for column in table.columns:
        header, key, fmt = column
        if all(_empty(row.get(key), fmt) for row in table.rows):
            dropped.setdefault(table.empty_reasons.get(key, NO_VALUE), []).append(header)
        else:
            kept.append(column)
    if not dropped:
        return kept, None
    parts = [
        ", ".join(f"“{h}”" for h in headers) + f" ({reason})" for reason, headers in dropped.items()
    ]
    return kept, "Columns left out, with no data: " + "; ".join(parts) + "."


def _empty(value: object, fmt: Formatter) -> bool:
    """No value: missing, or shown as one of ``EMPTY_CELLS`` (a formatter that turns a missing
    value into words, e.g. "not assessed", keeps its column)."""
    missing = value is None or (isinstance(value, float) and value != value)
    if missing and is_text(fmt):
        return True
    return fmt(value).strip() in EMPTY_CELLS


@dataclass(frozen=True, slots=True)
class Image:
    name: str  # plots/<name>.png
    title: str


Block = Heading | Text | Bullets | Table | Image


def to_markdown(blocks: list[Block], images: dict[str, bytes]) -> str:
    parts = []
    for block in blocks:
        match block:
            case Heading(level, text):
                parts.append(f"{'#' * level} {text}")
            case Text(text):
                parts.append(text)
            case Bullets(items):
                parts.append("\n".join(f"- {item}" for item in items))
            case Table() as table:
                columns, note = shown_columns(table)
                parts.append(markdown_table(table.rows, columns))
                if note:
                    parts.append(f"_{note}_")
            case Image(name, title) if name in images:
                parts.append(f"![{title}](plots/{name}.png)")
    return "\n\n".join(parts).rstrip("\n") + "\n"


def markdown_table(rows: Sequence[dict], columns: list[Column]) -> str:
    if not rows:
        return "_No rows._"
    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if is_text(fmt) else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(fmt(row.get(key)) for _, key, fmt in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


# Tables never scroll sideways: they take the page's width, headers wrap, and a number wraps
# only between its digits' groups if it must. Printed, every column stays (smaller type, the
# header repeated on each page) and each section starts a page.
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d2329;line-height:1.45}
h1{border-bottom:2px solid #1d2329;padding-bottom:.3rem}h2{margin-top:2.2rem;
border-bottom:1px solid #ccd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.8rem;width:100%;table-layout:auto}
th,td{padding:.2rem .4rem;border-bottom:1px solid #e3e6ea;vertical-align:top;
overflow-wrap:anywhere}th{background:#f3f5f7;text-align:left;font-weight:600;hyphens:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.num{text-align:right}figure{margin:1rem 0}
figcaption{font-size:.85rem;color:#555}img{max-width:100%;border:1px solid #e3e6ea}
code{background:#f3f5f7;padding:0 .2rem;border-radius:3px}
p.dropped{font-size:.8rem;color:#555;font-style:italic}
section.headline{background:#f7faf7;border:1px solid #cfe3cf;padding:0 1rem .6rem;
border-radius:4px}section.headline td{font-size:.9rem}
@media (max-width:900px){table{font-size:.7rem}td.num{white-space:normal}}
@media print{
body{max-width:none;margin:0;padding:0;font-size:9pt}
table{font-size:6.5pt;width:100%;page-break-inside:auto}
th,td{padding:1px 3px;white-space:normal}td.num{white-space:normal}
thead{display:table-header-group}tr,figure,img{page-break-inside:avoid;break-inside:avoid}
section{page-break-before:always;break-before:page}section.headline{page-break-before:avoid;
break-before:avoid}h2,h3{page-break-after:avoid;break-after:avoid}
img{max-width:100%;max-height:90vh}
}
"""


def to_html(
    blocks: list[Block], images: dict[str, bytes], title: str, headline: bool = False
) -> str:
    """One page; every level-2 heading opens a ``<section>``; with ``headline`` the section
    right after the title is marked ``class="headline"`` (the answer, set off)."""
    body: list[str] = []
    open_section = False
    for index, block in enumerate(blocks):
        match block:
            case Heading(2, text):
                if open_section:
                    body.append("</section>")
                css = ' class="headline"' if headline and index == 1 else ""
                body.append(f"<section{css}>")
                open_section = True
                body.append(f"<h2>{_inline(text)}</h2>")
            case Heading(level, text):
                body.append(f"<h{level}>{_inline(text)}</h{level}>")
            case Text(text):
                body.append(f"<p>{_inline(text)}</p>")
            case Bullets(items):
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            case Table() as table:
                columns, note = shown_columns(table)
                body.append(html_table(table.rows, columns))
                if note:
                    body.append(f'<p class="dropped">{_inline(note)}</p>')
            case Image(name, caption) if name in images:
                data = base64.b64encode(images[name]).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    if open_section:
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


_NUM = ' class="num"'


def html_table(rows: Sequence[dict], columns: list[Column]) -> str:
    if not rows:
        return "<p><em>No rows.</em></p>"
    head = "".join(
        f"<th{'' if is_text(fmt) else _NUM}>{html.escape(h)}</th>" for h, _, fmt in columns
    )
    lines = []
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            kind = "" if is_text(fmt) else ' class="num"'
            cells.append(f"<td{kind}>{html.escape(fmt(row.get(key)))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", escaped))
