"""Read a report's HTML page as a reader would: its tables' text by table id, every
``src``/``href`` it holds, and its caveats' text; with the standard library's parser,
not with the code that wrote the page."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportPage(HTMLParser):
    """``tables``: {id: [row cells, header row first]}; ``links``: every (tag, attribute,
    value) of a ``src`` or ``href``; ``text``: the page's visible text, joined."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[tuple[str, str, str]] = []
        self.ids: dict[str, str] = {}
        self._text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_script = False
        self.feed(page)
        self.text = " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.links.append((tag, name, attrs[name] or ""))
        if "id" in attrs:
            self.ids[attrs["id"]] = tag
        if tag == "script":
            self._in_script = True
        elif tag == "table":
            self._table = attrs.get("id") or f"table-{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_script:
            return
        if self._cell is not None:
            self._cell.append(data)
        self._text.append(data)

    def rows(self, table_id: str) -> dict[str, list[str]]:
        """A table's body rows keyed by their first cell."""
        return {row[0]: row[1:] for row in self.tables[table_id][1:]}

    def header(self, table_id: str) -> list[str]:
        return self.tables[table_id][0]


def three(value: float, *, signed: bool = False) -> str:
    """A figure as a reader finds it on the page: 3 decimals (the report's one format)."""
    return f"{value:+.3f}" if signed else f"{value:.3f}"
