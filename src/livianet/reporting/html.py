"""A small toolkit for self-contained HTML reports: escaping, pages, sortable tables, images.

A report is one file that opens from the disk with no network: its CSS and script are inline,
its pictures are embedded as data URIs or linked by relative URLs to files beside it. Text from
files and names is escaped on the way in: strings are escaped unless they are :class:`Markup`
(HTML this module or its callers built), so nothing from a file can become markup.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from livianet.version import __version__


class Markup(str):
    """A string that already is HTML: :func:`esc` passes it through unchanged."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """``value`` as HTML text (quotes escaped too, so it is safe in attributes).

    >>> esc('<b a="1">&</b>'), esc(Markup("<i>x</i>"))
    ('&lt;b a=&quot;1&quot;&gt;&amp;&lt;/b&gt;', '<i>x</i>')
    """
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """Escape each part (Markup stays) and join them."""
    return Markup(esc(separator).join(esc(p) for p in parts))


def tag(name: str, content: object = "", /, **attributes: object) -> Markup:
    """``<name attr="...">content</name>``; attribute values are escaped, ``None``/False left out.

    ``class_`` stands for ``class``; underscores in other names become hyphens.

    >>> tag("td", "a<b", class_="num", data_sort=3)
    '<td class="num" data-sort="3">a&lt;b</td>'
    """
    return Markup(f"<{name}{_attributes(attributes)}>{esc(content)}</{name}>")


def void(name: str, /, **attributes: object) -> Markup:
    """An element without content, such as ``<img ...>``."""
    return Markup(f"<{name}{_attributes(attributes)}>")


def _attributes(attributes: dict[str, object]) -> str:
    parts = []
    for key, value in attributes.items():
        if value is None or value is False:
            continue
        name = "class" if key == "class_" else key.rstrip("_").replace("_", "-")
        parts.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    return "".join(parts)


# ----------------------------------------------------------------------------- numbers


def fmt(value: object, digits: int = 3) -> str:
    """A number for people: ``digits`` significant digits, thousands grouped, blank when missing.

    >>> fmt(8012.5, 3), fmt(0.91234), fmt(None), fmt(float("nan")), fmt(12), fmt("x")
    ('8,012', '0.912', '', '', '12', 'x')
    """
    number = as_float(value)
    if number is None:
        return "" if value is None or isinstance(value, float) else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if number == 0:
        return "0"
    if abs(number) >= 10 ** (digits - 1):
        return f"{number:,.0f}"
    return f"{number:.{digits}g}" if abs(number) < 1e-3 else _fixed(number, digits)


def _fixed(number: float, digits: int) -> str:
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(number)))), 0)
    return f"{number:,.{decimals}f}"


def as_float(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, empty, text, NaN, infinite)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """A table heading: its label, whether its cells are numbers (right-aligned), a tooltip."""

    label: str
    numeric: bool = False
    title: str | None = None
    sortable: bool = True


@dataclass(frozen=True)
class Cell:
    """A table cell: content (escaped unless Markup), the key it sorts by, classes, a tooltip."""

    content: object = ""
    sort: object = None
    classes: str = ""
    title: str | None = None


def number_cell(value: object, digits: int = 3, *, classes: str = "", suffix: str = "") -> Cell:
    """A number shown with :func:`fmt`, sorted by its exact value (missing values sort last)."""
    number = as_float(value)
    shown = fmt(value, digits)
    return Cell(shown + suffix if shown else "", "" if number is None else repr(number), classes)


@dataclass(frozen=True)
class Table:
    """Rows under columns; ``row_classes`` (one per row) mark rows, e.g. ``flagged``."""

    columns: Sequence[Column | str]
    rows: Sequence[Sequence[Cell | object]]
    sortable: bool = True
    table_id: str | None = None
    caption: str | None = None
    row_classes: Sequence[str] = field(default_factory=tuple)

    def render(self) -> Markup:
        columns = [c if isinstance(c, Column) else Column(str(c)) for c in self.columns]
        heads = []
        for column in columns:
            classes = " ".join(
                c
                for c in ("num" if column.numeric else "", "" if column.sortable else "nosort")
                if c
            )
            heads.append(
                tag("th", column.label, class_=classes or None, title=column.title, scope="col")
            )
        body = []
        for index, row in enumerate(self.rows):
            if len(row) != len(columns):
                raise ValueError(f"row {index} has {len(row)} cells for {len(columns)} columns")
            cells = [
                _cell(value, column.numeric) for value, column in zip(row, columns, strict=True)
            ]
            row_class = self.row_classes[index] if index < len(self.row_classes) else ""
            body.append(tag("tr", join(cells), class_=row_class or None))
        classes = "sortable" if self.sortable else None
        caption = tag("caption", self.caption) if self.caption else ""
        inner = join([caption, tag("thead", tag("tr", join(heads))), tag("tbody", join(body))])
        return tag("div", tag("table", inner, id=self.table_id, class_=classes), class_="scroll")


def _cell(value: Cell | object, numeric: bool) -> Markup:
    cell = value if isinstance(value, Cell) else Cell(value)
    content = cell.content
    if _is_number(content) and cell.sort is None:
        cell = Cell(fmt(content), repr(as_float(content)), cell.classes, cell.title)
        content = cell.content
    classes = " ".join(c for c in ("num" if numeric else "", cell.classes) if c)
    return tag(
        "td",
        content,
        class_=classes or None,
        data_sort=None if cell.sort is None else str(cell.sort),
        title=cell.title,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def table(columns: Sequence[Column | str], rows: Sequence[Sequence[Cell | object]], **kw) -> Markup:
    """Shorthand for ``Table(columns, rows, **kw).render()``."""
    return Table(columns, rows, **kw).render()


def definition_list(items: Iterable[tuple[object, object]]) -> Markup:
    """``<dl>`` of label/value pairs (values escaped unless Markup)."""
    return tag("dl", join(join([tag("dt", k), tag("dd", v)]) for k, v in items), class_="facts")


# ----------------------------------------------------------------------------- images


def data_uri(path: str | os.PathLike[str], mime: str | None = None) -> str:
    """The file's bytes as a ``data:`` URI, so the page carries the picture itself."""
    file = Path(path)
    kind = mime or {
        ".png": "image/png",
        ".svg": "image/svg+xml",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
    }.get(file.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(file.read_bytes()).decode('ascii')}"


def relative_url(target: str | os.PathLike[str], page_dir: str | os.PathLike[str]) -> str:
    """A URL to ``target`` relative to the folder of the page, each part percent-encoded.

    >>> relative_url("/r/out/Mosaic #1.png", "/r/out"), relative_url("/r/a/b.png", "/r/out")
    ('Mosaic%20%231.png', '../a/b.png')
    """
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))
    return "/".join(quote(part) for part in Path(rel).parts)


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    text: dict[str, str]


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_info(path: str | os.PathLike[str]) -> PngInfo | None:
    """Size and text entries of a PNG file, or None if it is missing or not a whole PNG.

    Reads chunk headers only (image data is skipped), so it is cheap for large pictures.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != _PNG_SIGNATURE:
                return None
            width = height = 0
            text: dict[str, str] = {}
            while True:
                header = handle.read(8)
                if len(header) < 8:
                    return None  # no IEND: truncated
                length, kind = struct.unpack(">I4s", header)
                if kind in (b"IHDR", b"tEXt", b"zTXt", b"iTXt"):
                    data = handle.read(length)
                    if len(data) < length:
                        return None
                    if kind == b"IHDR":
                        width, height = struct.unpack(">II", data[:8])
                    else:
                        _png_text(kind, data, text)
                    handle.seek(4, os.SEEK_CUR)
                else:
                    handle.seek(length + 4, os.SEEK_CUR)
                if kind == b"IEND":
                    return PngInfo(width, height, text) if width and height else None
    except (OSError, struct.error):
        return None


def _png_text(kind: bytes, data: bytes, into: dict[str, str]) -> None:
    key, _, rest = data.partition(b"\0")
    try:
        if kind == b"tEXt":
            value = rest.decode("latin-1")
        elif kind == b"zTXt":
            value = zlib.decompress(rest[1:]).decode("latin-1")
        else:  # iTXt: flag, method, language\0, translated key\0, text
            flag, rest = rest[0], rest[2:]
            rest = rest.split(b"\0", 2)[2]
            value = (zlib.decompress(rest) if flag else rest).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, IndexError):
        return
    into[key.decode("latin-1")] = value


# ----------------------------------------------------------------------------- the page

CSS = """
:root { --fg: #1d2329; --muted: #5d6873; --line: #d5dbe1; --head: #eef2f5; --bad: #fde8e8;
  --bad-fg: #9b1c1c; --good: #e7f6ec; --good-fg: #1e6b3a; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  margin: 0 auto; padding: 16px 24px 40px; max-width: 1600px; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px;
  border-bottom: 1px solid var(--line); padding-bottom: 3px; } h3 { font-size: 14px; margin: 8px 0 4px; }
p, ul { margin: 6px 0; } .muted { color: var(--muted); } code { font-size: 12px; }
.summary { font-size: 15px; padding: 8px 12px; border-radius: 6px; background: var(--head); }
.summary.bad { background: var(--bad); color: var(--bad-fg); }
.summary.good { background: var(--good); color: var(--good-fg); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: var(--head); position: sticky; top: 0; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.sortable th:not(.nosort) { cursor: pointer; user-select: none; }
table.sortable th:not(.nosort)::after { content: " \\2195"; color: #9aa5b1; font-size: 11px; }
table.sortable th[aria-sort=ascending]::after { content: " \\2191"; color: var(--fg); }
table.sortable th[aria-sort=descending]::after { content: " \\2193"; color: var(--fg); }
tr.flagged td { background: var(--bad); }
td.bad { color: var(--bad-fg); font-weight: 600; }
tr.best td { background: var(--good); }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px;
  font-weight: 600; background: var(--good); color: var(--good-fg); white-space: nowrap; }
.badge.bad { background: var(--bad-fg); color: #fff; }
ul.reasons { margin: 0; padding-left: 16px; min-width: 240px; max-width: 420px; }
td.name { min-width: 12em; } td.name strong { white-space: nowrap; }
img.thumb { width: 260px; height: auto; display: block; border: 1px solid var(--line); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 12px 20px; }
.chart svg { width: 100%; height: auto; display: block; }
.legend { font-size: 12px; color: var(--muted); }
.legend span.key { display: inline-block; width: 14px; height: 3px; margin: 0 4px 3px 8px;
  vertical-align: middle; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
pre.log { font-size: 11px; background: #f6f8fa; padding: 8px; overflow-x: auto; max-height: 420px; }
.controls { margin: 6px 0; } footer { margin-top: 32px; font-size: 12px; color: var(--muted); }
a { color: var(--accent); }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { max-width: none; padding: 0; font-size: 10px; }
  .controls, .noprint { display: none !important; }
  .scroll { overflow: visible; } th { position: static; }
  table { font-size: 9px; } tr, img, .chart { break-inside: avoid; }
  img.thumb { width: 170px; } pre.log { max-height: none; white-space: pre-wrap; }
  table.sortable th::after { content: "" !important; }
  a { color: inherit; text-decoration: none; }
  tr.flagged td, .summary, .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell) {
    var raw = cell.getAttribute("data-sort");
    var text = (raw === null ? cell.textContent : raw).trim();
    if (text === "") return null;
    var n = Number(text.replace(/,/g, ""));
    return isFinite(n) ? n : text.toLowerCase();
  }
  function compare(a, b) {
    if (a === null || b === null) return a === b ? 0 : (a === null ? 1 : -1);
    if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
    return typeof a === "number" ? -1 : 1;
  }
  function sortBy(table, index, head) {
    var ascending = head.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(head.parentNode.cells, function (th) {
      th.removeAttribute("aria-sort");
    });
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return { row: row, key: key(row.cells[index]), i: i };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) return compare(a.key, b.key) || a.i - b.i;
      return (ascending ? compare(a.key, b.key) : compare(b.key, a.key)) || a.i - b.i;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (head, index) {
      if (head.classList.contains("nosort")) return;
      head.tabIndex = 0;
      head.title = head.title || "sort by this column";
      head.addEventListener("click", function () { sortBy(table, index, head); });
      head.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, index, head);
        }
      });
    });
  });
  document.querySelectorAll("input[data-filter]").forEach(function (box) {
    var table = document.getElementById(box.getAttribute("data-filter"));
    if (!table) return;
    box.addEventListener("change", function () {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = box.checked && !row.classList.contains("flagged");
      });
    });
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
"""


def page(title: str, body: object, *, subtitle: object = "", generated: str = "") -> Markup:
    """A whole HTML document: inline CSS and script, no external resources."""
    footer = tag("footer", f"livianet {__version__} report{', ' + generated if generated else ''}")
    heading = join([tag("h1", title), tag("p", subtitle, class_="muted") if subtitle else ""])
    return Markup(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{tag('title', title)}<style>{CSS}</style></head>\n"
        f"<body>{heading}\n{esc(body)}\n{footer}\n<script>{SCRIPT}</script></body></html>\n"
    )
