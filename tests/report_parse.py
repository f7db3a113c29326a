"""A reader of report.html for tests: its sections, each with its tables and paragraphs
(stdlib ``html.parser``; the report's own rendering code is not used)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class HtmlTable:
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def column(self, header: str) -> list[str]:
        index = self.headers.index(header)
        return [row[index] for row in self.rows]


@dataclass
class Section:
    title: str = ""
    css: str = ""
    tables: list[HtmlTable] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)  # h3 inside it


@dataclass
class Page:
    title: str = ""  # the h1
    first_after_title: str = ""  # the first element tag after the h1
    sections: list[Section] = field(default_factory=list)
    style: str = ""

    def section(self, title: str) -> Section:
        return next(s for s in self.sections if s.title == title)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._text: list[str] | None = None
        self._tag = ""
        self._row: list[str] | None = None
        self._after_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._after_h1 and tag not in ("h1",):
            self.page.first_after_title, self._after_h1 = tag, False
        match tag:
            case "section":
                self.page.sections.append(Section(css=dict(attrs).get("class") or ""))
            case "table":
                self.page.sections[-1].tables.append(HtmlTable())
            case "tr":
                self._row = []
            case "th" | "td" | "h1" | "h2" | "h3" | "p" | "style":
                self._tag, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            table = self.page.sections[-1].tables[-1]
            if self._row and not table.headers and self._header_row:
                table.headers = self._row
            elif self._row:
                table.rows.append(self._row)
            self._row = None
            return
        if self._text is None or tag != self._tag:
            return
        text = "".join(self._text).strip()
        self._text = None
        match tag:
            case "th":
                self._header_row = True
                assert self._row is not None
                self._row.append(text)
            case "td":
                self._header_row = False
                assert self._row is not None
                self._row.append(text)
            case "h1":
                self.page.title, self._after_h1 = text, True
            case "h2":
                self.page.sections[-1].title = text
            case "h3":
                self.page.sections[-1].headings.append(text)
            case "p" if self.page.sections:
                self.page.sections[-1].paragraphs.append(text)
            case "style":
                self.page.style = text

    _header_row = False


def read_report(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
