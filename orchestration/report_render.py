"""A report as a list of blocks, rendered to Markdown or to one self-contained HTML page.

Both renderings come from the same blocks, so ``report.md`` and ``report.html`` always say the
same thing; the HTML embeds every plot as a base64 PNG ``data:`` URI and its own CSS, and links
to nothing outside itself.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
    rows: Sequence[dict]
    columns: list[Column]


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
            case Table(rows, columns):
                parts.append(markdown_table(rows, columns))
            case Image(name, title) if name in images:
                parts.append(f"![{title}](plots/{name}.png)")
    return "\n\n".join(parts).rstrip("\n") + "\n"


def markdown_table(rows: Sequence[dict], columns: list[Column]) -> str:
    if not rows:
        return "_No rows._"
    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" if fmt is str else "---:" for _, _, fmt in columns) + "|"
    body = ["| " + " | ".join(fmt(row.get(key)) for _, key, fmt in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#1d2329;line-height:1.45}
h1{border-bottom:2px solid #1d2329;padding-bottom:.3rem}h2{margin-top:2.2rem;
border-bottom:1px solid #ccd;padding-bottom:.2rem}table{border-collapse:collapse;margin:.6rem 0;
font-size:.85rem;display:block;overflow-x:auto}th,td{padding:.25rem .55rem;
border-bottom:1px solid #e3e6ea;white-space:nowrap}th{background:#f3f5f7;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}
figcaption{font-size:.85rem;color:#555}img{max-width:100%;border:1px solid #e3e6ea}
code{background:#f3f5f7;padding:0 .2rem;border-radius:3px}
"""


def to_html(blocks: list[Block], images: dict[str, bytes], title: str) -> str:
    body = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{_inline(text)}</h{level}>")
            case Text(text):
                body.append(f"<p>{_inline(text)}</p>")
            case Bullets(items):
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            case Table(rows, columns):
                body.append(html_table(rows, columns))
            case Image(name, caption) if name in images:
                data = base64.b64encode(images[name]).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def html_table(rows: Sequence[dict], columns: list[Column]) -> str:
    if not rows:
        return "<p><em>No rows.</em></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in columns)
    lines = []
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            kind = "" if fmt is str else ' class="num"'
            cells.append(f"<td{kind}>{html.escape(fmt(row.get(key)))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return _CODE.sub(r"<code>\1</code>", _BOLD.sub(r"<strong>\1</strong>", escaped))
