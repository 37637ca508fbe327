"""What the HTML reports are made of: the values their templates lay out, and the templates.

A report is one file that opens from the disk with no network: its CSS and script are inline
(``templates/base.html.j2``), its pictures lie beside it, linked by relative URLs, or are
drawn inline. Python prepares plain values (:class:`Table`, :class:`Cell` and the contents
below, text and numbers formatted with :func:`fmt`); the Jinja templates in ``templates/``
lay them out and escape every value, so nothing read from a file can become markup.
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import jinja2
from PIL import Image

from livianet.evaluation.values import as_float, fmt
from livianet.version import __version__

__all__ = [
    "Badge",
    "Cell",
    "Code",
    "Column",
    "Line",
    "Muted",
    "PngInfo",
    "Reasons",
    "Table",
    "Thumbnail",
    "Titled",
    "as_float",
    "environment",
    "fact_list",
    "fmt",
    "number_cell",
    "png_info",
    "relative_url",
    "render_page",
]

# ----------------------------------------------------------------------------- cell contents
# Beyond plain text, what a table cell or a fact may hold; ``kind`` names its layout in
# ``templates/macros.html.j2``.


@dataclass(frozen=True)
class Code:
    text: str
    kind: ClassVar[str] = "code"


@dataclass(frozen=True)
class Muted:
    text: str
    kind: ClassVar[str] = "muted"


@dataclass(frozen=True)
class Badge:
    """A short mark such as ``ok`` or ``best``; ``bad`` ones stand out in red."""

    text: str
    bad: bool = False
    kind: ClassVar[str] = "badge"


@dataclass(frozen=True)
class Reasons:
    """The reasons a scan is flagged, as a list."""

    items: tuple[str, ...]
    kind: ClassVar[str] = "reasons"


@dataclass(frozen=True)
class Titled:
    """A name in bold with a quieter line under it (the line left out when empty)."""

    title: str
    note: str = ""
    kind: ClassVar[str] = "titled"


@dataclass(frozen=True)
class Thumbnail:
    """A small picture that opens the full-size one (``href``) in a new tab."""

    src: str
    alt: str
    href: str
    width: int = 0  # 0: unknown, left to the browser
    height: int = 0
    lazy: bool = False  # load when scrolled into view
    kind: ClassVar[str] = "thumbnail"


Content = str | Code | Muted | Badge | Reasons | Titled | Thumbnail
_CONTENTS = (str, Code, Muted, Badge, Reasons, Titled, Thumbnail)

# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """A table heading: its label, whether its cells are numbers (right-aligned), a tooltip."""

    label: str
    numeric: bool = False
    title: str | None = None
    sortable: bool = True

    @property
    def classes(self) -> str:
        return " ".join(
            c for c in ("num" if self.numeric else "", "" if self.sortable else "nosort") if c
        )


@dataclass(frozen=True)
class Cell:
    """A table cell: its content, the key it sorts by, classes, a tooltip.

    The content is text, a number or one of the contents above; a number with no sort key is
    shown with :func:`fmt` and sorts by its value.
    """

    content: object = ""
    sort: object = None
    classes: str = ""
    title: str | None = None


@dataclass(frozen=True)
class Line:
    """A table row as the template lays it out: its classes and its finished cells."""

    classes: str
    cells: list[Cell]


def number_cell(value: object, digits: int = 3, *, classes: str = "", suffix: str = "") -> Cell:
    """A number shown with :func:`fmt`, sorted by its exact value (missing values sort last)."""
    number = as_float(value)
    shown = fmt(value, digits)
    return Cell(shown + suffix if shown else "", "" if number is None else repr(number), classes)


@dataclass(frozen=True)
class Table:
    """Rows under columns; ``row_classes`` (one per row) mark rows, e.g. ``flagged``.

    Raises:
        ValueError: a row whose length is not the number of columns.
    """

    columns: Sequence[Column | str]
    rows: Sequence[Sequence[Cell | object]]
    sortable: bool = True
    table_id: str | None = None
    caption: str | None = None
    row_classes: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for index, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {index} has {len(row)} cells for {len(self.columns)} columns"
                )

    @property
    def heads(self) -> list[Column]:
        return [c if isinstance(c, Column) else Column(str(c)) for c in self.columns]

    @property
    def lines(self) -> list[Line]:
        heads = self.heads
        return [
            Line(
                self.row_classes[index] if index < len(self.row_classes) else "",
                [
                    _finished(value, column.numeric)
                    for value, column in zip(row, heads, strict=True)
                ],
            )
            for index, row in enumerate(self.rows)
        ]


def _finished(value: Cell | object, numeric: bool) -> Cell:
    """The cell as laid out: content as text (or a content value), sort key as text."""
    cell = value if isinstance(value, Cell) else Cell(value)
    content, sort = cell.content, cell.sort
    if _is_number(content) and sort is None:
        content, sort = fmt(content), repr(as_float(content))
    classes = " ".join(c for c in ("num" if numeric else "", cell.classes) if c)
    return Cell(_as_content(content), None if sort is None else str(sort), classes, cell.title)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_content(value: object) -> Content:
    if value is None:
        return ""
    return value if isinstance(value, _CONTENTS) else str(value)


def fact_list(items: Iterable[tuple[object, object]]) -> list[tuple[str, Content]]:
    """Label/value pairs for the ``facts`` macro (a ``<dl>``), values as text or content."""
    return [(str(label), _as_content(value)) for label, value in items]


# ----------------------------------------------------------------------------- pictures


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


def png_info(path: str | os.PathLike[str]) -> PngInfo | None:
    """Size and text entries of a PNG file, or None if it is missing or not a whole PNG.

    The picture is decoded (Pillow reads text entries wherever they lie in the file, and a
    cut file fails there): a few milliseconds for a mosaic.
    """
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                return None
            image.load()
            text = {str(k): str(v) for k, v in getattr(image, "text", {}).items()}
            return PngInfo(image.width, image.height, text)
    except (OSError, SyntaxError, ValueError):  # Pillow reports a broken PNG as SyntaxError
        return None


# ----------------------------------------------------------------------------- pages


@functools.cache
def environment() -> jinja2.Environment:
    """The templates of ``livianet/reporting/templates``, every value escaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("livianet.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    return env


def render_page(template: str, **values: object) -> str:
    """A whole HTML document from ``templates/<template>``, which extends ``base.html.j2``."""
    return environment().get_template(template).render(**values)
