"""Reading INI text: sections, keys matched through the key table, values parsed.

Every syntax problem, unknown section or key (with a did-you-mean hint) and bad
value becomes a one-line :class:`ConfigError` naming the file, section, key and
value.
"""

from __future__ import annotations

import configparser
import difflib
import os
from pathlib import Path
from typing import Any

from livianet.config import keys as ck
from livianet.config.values import ValueProblem
from livianet.errors import ConfigError

Sections = dict[str, dict[str, tuple[str, str]]]


def read_ini(path: str | os.PathLike[str]) -> Sections:
    """``{section: {normalised key: (key as written, raw value)}}``; ConfigError on syntax."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.start}); save the config as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"{file}: contains NUL bytes, not a text config")
    # Universal newlines, as open() in text mode: old Mac files end lines with CR only.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # No [DEFAULT] magic: NUL cannot occur in the text, so [DEFAULT] is an ordinary
    # (unknown) section instead of one whose keys leak into every other section.
    parser = configparser.ConfigParser(
        interpolation=None, strict=True, delimiters=("=", ":"), default_section="\x00"
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=str(file))
    except configparser.Error as exc:
        where = _syntax_message(exc, text.split("\n"))
        raise ConfigError(f"{file}{where}") from None
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    written_as: dict[str, str] = {}
    for section in parser.sections():
        canonical = _canonical_section(file, section)
        if canonical in sections:
            raise ConfigError(
                f"{file}: section [{section}] given twice (also as [{written_as[canonical]}])"
            )
        written_as[canonical] = section
        entries = sections.setdefault(canonical, {})
        for name, value in parser.items(section, raw=True):
            norm = ck.ALIASES.get((canonical, ck.normalise(name)), ck.normalise(name))
            if norm in entries:
                raise ConfigError(
                    f"{file} [{section}] {name}: given twice (also as {entries[norm][0]!r})"
                )
            entries[norm] = (name, value if value is not None else "")
    return sections


def _syntax_message(exc: configparser.Error, lines: list[str]) -> str:
    """configparser's multi-line messages as one line in our ``file [section] key`` form."""
    if isinstance(exc, configparser.DuplicateOptionError):
        return f" [{exc.section}] {exc.option}: given twice (line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f": section [{exc.section}] given twice (line {exc.lineno})"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        line = _line(lines, exc.lineno)
        return f" line {exc.lineno}: {line!r} comes before any [section] header"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno = exc.errors[0][0]
        line = _line(lines, lineno)
        return f" line {lineno}: {line!r} is not 'key = value', a [section] header or a comment"
    return ": " + " ".join(str(exc).split())


def _line(lines: list[str], lineno: int) -> str:
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def _canonical_section(file: Path, section: str) -> str:
    by_norm = {ck.normalise(s): s for s in ck.SECTIONS}
    found = by_norm.get(ck.normalise(section))
    if found is None:
        hint = difflib.get_close_matches(section, ck.SECTIONS, n=1, cutoff=0.5)
        suggestion = (
            f"; did you mean [{hint[0]}]?"
            if hint
            else f"; known sections: {', '.join(ck.SECTIONS)}"
        )
        raise ConfigError(f"{file}: unknown section [{section}]{suggestion}")
    return found


def section_values(
    file: Path, sections: dict, section: str, required: bool
) -> dict[str, Any] | None:
    """Parse one section's values by the key table; unknown keys are errors."""
    table = ck.keys_by_section()[section]
    entries = sections.get(section)
    if entries is None:
        if required:
            raise ConfigError(f"{file}: missing section [{section}]")
        return None
    values: dict[str, Any] = {}
    for norm, (written, raw) in entries.items():
        key = table.get(norm)
        if key is None:
            hint = _key_hint(section, norm, written)
            raise ConfigError(f"{file} [{section}] {written}: unknown key{hint}")
        try:
            values[key.field] = key.parse(raw)
        except ValueProblem as exc:
            raise ConfigError(f"{file} [{section}] {written} = {raw.strip()!r}: {exc}") from None
    for key in table.values():
        if key.field not in values:
            if key.default is ck.REQUIRED:
                raise ConfigError(f"{file} [{section}]: missing key {key.name!r} ({key.doc})")
            values[key.field] = key.default
    return values


def _key_hint(section: str, norm: str, written: str) -> str:
    """A did-you-mean suggestion for an unknown key, or the section it belongs in."""
    tables = ck.keys_by_section()
    home = [s for s in ck.SECTIONS if norm in tables[s]]
    if home:
        return f"; it belongs in [{home[0]}]"
    table = tables[section]
    names = [k.name for k in table.values()]
    hint = difflib.get_close_matches(written, names, n=1, cutoff=0.6)
    if not hint:
        hint = [
            k.name
            for n, k in table.items()
            if difflib.SequenceMatcher(None, norm, n).ratio() > 0.75
        ][:1]
    return f"; did you mean {hint[0]!r}?" if hint else ""
