"""The HTML toolkit: escaping, tables, pictures, charts and the page around them."""

from __future__ import annotations

import re

import pytest

from livianet.reporting.charts import Series, line_chart
from livianet.reporting.html import (
    Cell,
    Column,
    Markup,
    esc,
    number_cell,
    page,
    png_info,
    relative_url,
    table,
    tag,
)

EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def test_text_from_files_is_escaped_everywhere():
    html = table(
        [Column(EVIL), Column("n", numeric=True)],
        [[Cell(EVIL, EVIL, "c", EVIL), 3.14159], [EVIL, None]],
    )
    assert "<script>" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 5  # heading, two cells, a sort key, a tooltip
    assert 'data-sort="&lt;script&gt;alert(&quot;x&quot;)' in html
    assert '<td class="num" data-sort="3.14159">3.14</td>' in html
    assert tag("p", Markup("<i>kept</i>")) == "<p><i>kept</i></p>"
    assert esc(None) == ""
    document = page(EVIL, tag("p", EVIL), subtitle=EVIL)
    assert "<script>alert" not in document
    assert document.count("<script>") == 1  # the page's own sorting script


def test_the_page_needs_no_network():
    document = page("t", line_chart("c", [Series("s", [1, 2], [0.5, 0.6])]))
    urls = re.findall(r'(?:src|href)="([^"]*)"', document)
    assert all(not u.startswith(("http:", "https:", "//")) for u in urls), urls
    assert "@media print" in document and "<style>" in document


def test_rows_must_fit_the_columns():
    with pytest.raises(ValueError, match="row 0 has 1 cells for 2 columns"):
        table(["a", "b"], [["x"]])


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
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from livianet.reporting.drawing import save_figure

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


def test_charts_skip_what_cannot_be_drawn():
    chart = line_chart(
        "Loss <1>",
        [
            Series("a", [1, 2, 3], [1.0, float("nan"), 0.01]),
            Series("b & c", [1, 2], [0.0, -1.0]),
        ],
        log_y=True,
    )
    assert "Loss &lt;1&gt;" in chart and "b &amp; c" not in chart  # b has no positive point
    assert chart.count("<circle") == 2
    empty = line_chart("Dice", [Series("mean", [], [])], empty="no validation yet")
    assert "no validation yet" in empty and "<polyline" not in empty
