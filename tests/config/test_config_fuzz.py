"""Property tests: mangled INI files give a valid config or a ConfigError, nothing else.

Hypothesis mutates the original LiviaNET INI files (lines, keys, values,
sections, bytes and encodings) and feeds the result to both loaders. Any other
exception is a parser bug. The files are the ones written in the original's
format (byte for byte the shared copies: tests/test_shared_data.py). Runs are
derandomised so CI is reproducible; set ``LIVIANET_FUZZ_EXAMPLES`` for a longer
local search.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from original_format import NAMES

from livianet.config import (
    ModelConfig,
    SegmentationConfig,
    TrainingConfig,
    load_segmentation_config,
    load_training_config,
    model_config_from_plain,
    model_problems,
    to_plain,
)
from livianet.config import keys as ck
from livianet.config.values import ValueProblem
from livianet.errors import ConfigError

EXAMPLES = int(os.environ.get("LIVIANET_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- value strategies

json_scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.sampled_from([0, 1, 2, 3, 7, -1, 10**30, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)
odd_values = st.sampled_from(
    [
        "",
        "[]",
        "[[]]",
        "[1]",
        "[3]",
        "[[3, 3, 3], [1]]",
        "[[3, 3, 3], [3]]",
        "[[1], [3, 3, 3]]",
        "1e999",
        "-1e999",
        "NaN",
        "Infinity",
        "1" * 5000,
        "[" * 5000,
        "0.5",
        ".5",
        "1e-6",
        "-0",
        "none",
        "relu",
        "adamw",
        "LeakyReLU",
        "[0.25, 0.5",
        "{}",
        '{"a": 1}',
        "/",
        "..",
        "~",
        "~nouser/x",
        '["a/", ""]',
        '["T1/", "T2/"]',
        "a\nb",
    ]
)
# Values a user might well write: they often pass the value checks and so reach
# the cross-field rules (layer counts, receptive field, label pairs).
kernel = st.sampled_from([[3, 3, 3], [1], [5, 5, 5], [3, 3, 1], [1, 1, 1]])
plausible = st.one_of(
    st.integers(0, 40),
    st.floats(0, 1),
    st.lists(st.integers(0, 40), max_size=12),
    st.lists(st.floats(0, 1), max_size=5),
    st.lists(kernel, min_size=1, max_size=12),
    st.lists(st.lists(st.integers(0, 9), min_size=2, max_size=2), max_size=4),
)
values = st.one_of(
    plausible.map(json.dumps),
    json_values.map(json.dumps),
    odd_values,
    st.text(max_size=30),
)


def _typo(draw: st.DrawFn, word: str) -> str:
    if not word:
        return draw(st.text(min_size=1, max_size=5))
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "insert", "swap", "case", "upper", "space"]))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "insert":
        return word[:i] + draw(st.characters()) + word[i:]
    if kind == "swap" and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        chars = list(word)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if kind == "upper":
        return word.upper()
    if kind == "space":
        return word[:i] + " " + word[i:]
    return word.swapcase()


# ----------------------------------------------------------------------------- line mutations


def _option_lines(lines: list[str]) -> list[int]:
    return [
        i
        for i, line in enumerate(lines)
        if "=" in line and not line.lstrip().startswith(("#", ";", "["))
    ]


def _section_lines(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith("[")]


def _pick(draw: st.DrawFn, indexes: list[int]) -> int | None:
    return draw(st.sampled_from(indexes)) if indexes else None


def delete_line(draw, lines):
    i = _pick(draw, _option_lines(lines) or list(range(len(lines))))
    return lines if i is None else lines[:i] + lines[i + 1 :]


def duplicate_line(draw, lines):
    i = _pick(draw, _option_lines(lines))
    if i is None:
        return lines
    j = draw(st.integers(0, len(lines)))
    return lines[:j] + [lines[i]] + lines[j:]


def insert_random_line(draw, lines):
    j = draw(st.integers(0, len(lines)))
    return lines[:j] + [draw(st.text(max_size=40))] + lines[j:]


def rename_key(draw, lines):
    i = _pick(draw, _option_lines(lines))
    if i is None:
        return lines
    key, _, value = lines[i].partition("=")
    new = _typo(draw, key.strip()) if draw(st.booleans()) else draw(st.text(max_size=20))
    return lines[:i] + [f"{new} ={value}"] + lines[i + 1 :]


def replace_value(draw, lines):
    i = _pick(draw, _option_lines(lines))
    if i is None:
        return lines
    key = lines[i].partition("=")[0]
    return lines[:i] + [f"{key}= {draw(values)}"] + lines[i + 1 :]


def insert_known_key(draw, lines):
    """A key from the table (often a livianet addition) with a random value."""
    sections = _section_lines(lines)
    if not sections:
        return lines
    j = draw(st.sampled_from(sections))
    own = [k for k in ck.KEYS if f"[{k.section}]" == lines[j].strip()]
    key = draw(st.sampled_from(own if own and draw(st.integers(0, 4)) else ck.KEYS))
    j += 1
    return lines[:j] + [f"{key.name} = {draw(values)}"] + lines[j:]


def remove_section(draw, lines):
    starts = _section_lines(lines)
    i = _pick(draw, starts)
    if i is None:
        return lines
    end = next((s for s in starts if s > i), len(lines))
    whole = draw(st.booleans())
    return lines[:i] + lines[end:] if whole else lines[:i] + lines[i + 1 :]


def rename_section(draw, lines):
    i = _pick(draw, _section_lines(lines))
    if i is None:
        return lines
    name = lines[i].strip()[1:-1]
    kind = draw(st.sampled_from(["typo", "known", "random"]))
    if kind == "typo":
        new = _typo(draw, name)
    elif kind == "known":
        new = draw(st.sampled_from([*ck.SECTIONS, "DEFAULT", "", " ", "default"]))
    else:
        new = draw(st.text(max_size=12))
    return lines[:i] + [f"[{new}]"] + lines[i + 1 :]


def duplicate_section(draw, lines):
    i = _pick(draw, _section_lines(lines))
    if i is None:
        return lines
    j = draw(st.integers(0, len(lines)))
    return lines[:j] + [lines[i]] + lines[j:]


# Value mutations are listed several times: most examples should get past the
# INI syntax and reach the value and cross-field checks.
LINE_MUTATIONS = (
    *(replace_value,) * 4,
    *(insert_known_key,) * 4,
    rename_key,
    delete_line,
    duplicate_line,
    insert_random_line,
    remove_section,
    rename_section,
    duplicate_section,
)
ENCODINGS = ("utf-8",) * 6 + ("utf-8-sig", "latin-1", "utf-16")
BYTE_MUTATIONS = ("none",) * 8 + ("insert", "truncate")


@st.composite
def mutated_ini(draw: st.DrawFn, sources: dict[str, str]) -> tuple[str, bytes]:
    name = draw(st.sampled_from(NAMES))
    lines = sources[name].splitlines()
    for _ in range(draw(st.integers(0, 3))):
        lines = draw(st.sampled_from(LINE_MUTATIONS))(draw, lines)
    text = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])).join(lines)
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    byte_op = draw(st.sampled_from(BYTE_MUTATIONS))
    if byte_op == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif byte_op == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    return name, data


# ----------------------------------------------------------------------------- properties


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "configs" / "fuzzed.ini"


@pytest.fixture(scope="module")
def sources(original_configs: Path) -> dict[str, str]:
    """The original INI texts by name."""
    return {name: (original_configs / name).read_text(encoding="utf-8") for name in NAMES}


def _check_valid(config: TrainingConfig | SegmentationConfig) -> None:
    """A returned config must satisfy the rules the loaders promise."""
    json.dumps(to_plain(config))
    if isinstance(config, SegmentationConfig):
        assert config.indexes and config.data.image_folders
        return
    model = config.model
    assert isinstance(model, ModelConfig) and model_problems(model) == []
    assert model_config_from_plain(json.loads(json.dumps(to_plain(model)))) == model
    assert model.in_channels == len(config.data.image_folders) >= 1
    for size in (config.train.patch_size, config.train.segment_patch_size):
        assert all(s >= r for s, r in zip(size, model.receptive_field, strict=True))
    assert config.train.batch_size <= config.train.samples_per_subepoch
    assert config.train_indexes and config.data.label_folder is not None


def _load_both(path: Path) -> None:
    for load in (load_training_config, load_segmentation_config):
        try:
            config = load(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)), str(exc)
        else:
            _check_valid(config)


@FUZZ
@given(draw=st.data())
def test_mutated_originals_give_config_or_config_error(fuzz_file: Path, sources, draw) -> None:
    _, data = draw.draw(mutated_ini(sources), label="case")
    fuzz_file.parent.mkdir(parents=True, exist_ok=True)
    fuzz_file.write_bytes(data)
    _load_both(fuzz_file)


@FUZZ
@given(draw=st.data(), data_root=st.sampled_from(["/data", "rel", "."]))
def test_data_root_gives_config_or_config_error(
    fuzz_file: Path, sources, draw, data_root: str
) -> None:
    _, data = draw.draw(mutated_ini(sources), label="case")
    fuzz_file.parent.mkdir(parents=True, exist_ok=True)
    fuzz_file.write_bytes(data)
    for load in (load_training_config, load_segmentation_config):
        try:
            config = load(fuzz_file, data_root=data_root)
        except ConfigError:
            continue
        for folder in (config.data.image_folders[0], config.data.roi_folder):
            assert folder is None or folder.parent == Path(data_root) or folder == Path(data_root)


@FUZZ
@given(key=st.sampled_from(ck.KEYS), raw=values)
def test_every_value_parser_returns_or_raises_value_problem(key: ck.Key, raw: str) -> None:
    try:
        key.parse(raw)
    except ValueProblem as exc:
        assert str(exc).startswith("expected") or "entry" in str(exc)
