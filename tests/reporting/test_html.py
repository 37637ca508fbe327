"""What reports are made of: table values, their template macros, pictures, the page."""

from __future__ import annotations

import re

import pytest
from matplotlib.figure import Figure

from livianet.reporting.drawing import save_figure
from livianet.reporting.html import (
    Cell,
    Column,
    Table,
    environment,
    number_cell,
    png_info,
    relative_url,
    render_page,
)

EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def _table_html(table: Table) -> str:
    return str(environment().get_template("macros.html.j2").module.data_table(table))


def test_text_from_files_is_escaped_everywhere():
    html = _table_html(
        Table(
            [Column(EVIL), Column("n", numeric=True)],
            [[Cell(EVIL, EVIL, "c", EVIL), 3.14159], [EVIL, None]],
        )
    )
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 5  # heading, two cells, a sort key, a tooltip
    assert 'data-sort="&lt;script&gt;alert(&#34;x&#34;)' in html
    assert '<td class="num" data-sort="3.14159">3.14</td>' in html
    assert '<td class="num"></td>' in html  # a missing value is blank
    document = render_page("base.html.j2", title=EVIL, subtitle=EVIL, generated="")
    assert "<script>alert" not in document
    assert document.count("<script>") == 1  # the page's own sorting script


def test_the_page_needs_no_network(trained_run):
    document = (trained_run / "report.html").read_text()
    assert "<svg" in document  # the curves, drawn inline
    urls = re.findall(r'(?:src|href)="([^"]*)"', document)
    assert all(not u.startswith(("http:", "https:", "//")) for u in urls), urls
    assert "@media print" in document and "<style>" in document


def test_rows_must_fit_the_columns():
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        Table(["a", "b"], [["x"]])


def test_number_cells_sort_by_value_and_leave_gaps_blank():
    assert number_cell(1234.567, 3) == Cell("1,235", "1234.567", "")
    assert number_cell(float("nan")) == Cell("", "", "")
    assert number_cell(None, suffix=" %") == Cell("", "", "")
    assert number_cell(12.5, 3, suffix=" %").content == "12.5 %"


def test_relative_urls_are_encoded(tmp_path):
    target = tmp_path / "out" / "pics" / "Mosaic a#1?.png"
    assert relative_url(target, tmp_path / "out") == "pics/Mosaic%20a%231%3F.png"
    assert relative_url("/r/javascript:alert(1).png", "/r") == "javascript%3Aalert%281%29.png"


def test_png_info_reads_size_and_text_and_refuses_broken_files(tmp_path):
    figure = Figure(figsize=(3, 2), dpi=100)
    figure.add_subplot().plot([0, 1])
    path = tmp_path / "f.png"
    save_figure(figure, path, metadata={"livianet:convention": "radiological"})
    info = png_info(path)
    assert info is not None
    assert (info.width, info.height) == (300, 200)
    assert info.text["livianet:convention"] == "radiological"
    (tmp_path / "cut.png").write_bytes(path.read_bytes()[:200])
    (tmp_path / "text.png").write_text("not a picture")
    assert png_info(tmp_path / "cut.png") is None
    assert png_info(tmp_path / "text.png") is None
    assert png_info(tmp_path / "missing.png") is None
