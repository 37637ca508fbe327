"""Tests for livianet.io.label_names: each accepted format and each error."""

from __future__ import annotations

from pathlib import Path

import pytest

from livianet.errors import DataError
from livianet.io import label_name, load_label_names


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_object(tmp_path: Path) -> None:
    path = write(tmp_path, "names.json", '{"1": "Left-Thalamus", "10": "Right Caudate"}')
    assert load_label_names(path) == {1: "Left-Thalamus", 10: "Right Caudate"}


def test_json_list_index_is_label(tmp_path: Path) -> None:
    path = write(tmp_path, "names.json", '["Background", null, "Caudate"]')
    assert load_label_names(path) == {0: "Background", 2: "Caudate"}


def test_tsv_with_header_comments_and_extra_columns(tmp_path: Path) -> None:
    text = "# BIDS dseg.tsv\nindex\tname\tabbreviation\n\n1\tLeft Thalamus\tLT\n2\tCaudate\tCd\n"
    assert load_label_names(write(tmp_path, "dseg.tsv", text)) == {1: "Left Thalamus", 2: "Caudate"}


def test_csv_with_quotes(tmp_path: Path) -> None:
    text = 'label,name\n1,"Thalamus, left"\n2,Putamen\n'
    names = load_label_names(write(tmp_path, "names.csv", text))
    assert names == {1: "Thalamus, left", 2: "Putamen"}


def test_whitespace_txt_and_freesurfer_lut(tmp_path: Path) -> None:
    text = "1 Left Thalamus\n  2   Caudate  \n# comment\n11  Left-Caudate  122 186 220 0\n"
    assert load_label_names(write(tmp_path, "names.txt", text)) == {
        1: "Left Thalamus",
        2: "Caudate",
        11: "Left-Caudate",
    }


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "names.tsv"
    path.write_bytes("\ufeff1\tThalamus\n".encode())
    assert load_label_names(path) == {1: "Thalamus"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.tsv", "1\tThalamus\nx\tCaudate\n", r"a\.tsv: line 2: 'x' is not a non-negative"),
        ("b.tsv", "label\tname\n1\tA\n-3\tB\n", r"b\.tsv: line 3: '-3' is not"),
        ("c.tsv", "1\tA\n2\n", r"c\.tsv: line 2: expected a label and a name"),
        ("d.txt", "1 A\n\n1 B\n", r"d\.txt: line 3: label 1 already named on line 1"),
        ("e.tsv", "# only a comment\n", r"e\.tsv: no label names found"),
        ("f.json", '{"1": "A",\n "2": }', r"f\.json: line 2: invalid JSON"),
        ("g.json", '{"one": "A"}', r"g\.json: entry 'one': expected a non-negative integer"),
        ("h.json", '{"1": 5}', r"h\.json: entry '1': expected a non-empty name"),
        ("i.json", '"Thalamus"', r"i\.json: JSON holds a str"),
        ("j.csv", "1,\n", r"j\.csv: line 1: expected a label and a name"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_label_names(write(tmp_path, name, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.tsv: label-name file not found"):
        load_label_names(tmp_path / "missing.tsv")


def test_label_name_falls_back_to_number() -> None:
    names = {1: "Thalamus"}
    assert label_name(names, 1) == "Thalamus"
    assert label_name(names, 2) == "label_2"
    assert label_name(None, 0) == "label_0"
    assert label_name({}, 5) == "label_5"
