"""The documents show only what exists: tests, commands and their flags, links and the sections
they point at, pictures, files and names in the code."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

from livianet.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "README.md",
    *sorted((ROOT / "models").rglob("*.md")),
]


def test_every_test_named_in_the_docs_exists():
    named = set()
    for doc in DOCS:
        named |= set(re.findall(r"(tests/[\w/]*test_\w+\.py)::(\w+)", doc.read_text()))
    assert named, "the reliability promises name their tests"
    for path, name in sorted(named):
        file = ROOT / path
        assert file.is_file() and re.search(rf"^def {name}\(", file.read_text(), re.M), (
            f"{path}::{name}"
        )


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("make demo") and block[1].startswith("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "livianet demo" in makefile and "pytest" in makefile and "torch==2.13.0" in makefile


def test_docs_models_shows_each_shipped_card_as_livianet_models_prints_it():
    from livianet.networks.pretrained import builtin_names, model_card

    text = (ROOT / "docs" / "models.md").read_text()
    for name in builtin_names():
        match = re.search(rf"<!-- card: {name} -->\n(.*?)\n<!-- end card -->", text, re.S)
        assert match, f"docs/models.md has no card section for {name}"
        assert match.group(1).strip() == model_card(name)["card"].strip()
        assert (
            model_card(name)["card"].strip()
            == (ROOT / "models" / name / "card.md").read_text().strip()
        )


# ----------------------------------------------------------------------------- reading Markdown

FENCE = re.compile(r"^\s*(```|~~~)")
SHELL_LANGUAGES = ("", "bash", "sh", "shell", "console")


def split_markdown(text: str) -> tuple[list[tuple[str, str]], str]:
    """``(language, body)`` of each fenced block, and the prose with those blocks blanked out.

    The prose keeps its line count, so that a heading's or a link's place stays where it was.
    """
    blocks: list[tuple[str, str]] = []
    prose: list[str] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if language is None and (opening := FENCE.match(line)):
            language, body = line.strip()[len(opening.group(1)) :].strip().lower(), []
            prose.append("")
        elif language is not None and FENCE.match(line):
            blocks.append((language, "\n".join(body)))
            language = None
            prose.append("")
        elif language is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return blocks, "\n".join(prose)


def inline_code(prose: str) -> list[str]:
    """The spans between single backticks, with their line breaks made spaces."""
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]


# ----------------------------------------------------------------------------- CLI flags

# `livianet` as a program (not `livianet.segment`, `livianet-demo/`, `import livianet`), then what
# follows on its command line: up to a comment, a pipe or the next command.
INVOCATION = re.compile(r"(?<![\w./-])livianet(?=\s+\S)(?P<rest>[^#|;&\n]*)")
FLAG = re.compile(r"(?<![\w./*'\"-])(--?[A-Za-z][\w-]*)")


def parser_options() -> tuple[set[str], dict[str, set[str]]]:
    """The top-level options of ``livianet``, and each subcommand's, from the real parser.

    argparse has no public way to list a parser's options: its ``_actions`` are read.
    """
    parser = build_parser()
    top: set[str] = set()
    commands: dict[str, set[str]] = {}
    for action in parser._actions:
        top.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands[name] = {o for a in sub._actions for o in a.option_strings}
    return top, commands


def command_lines(text: str) -> list[str]:
    """Every ``livianet ...`` command line shown: in shell code blocks and in inline code."""
    blocks, prose = split_markdown(text)
    candidates = inline_code(prose)
    for language, body in blocks:
        if language in SHELL_LANGUAGES:
            lines = body.replace("\\\n", " ").splitlines()
            candidates += [re.sub(r"(^|\s)#.*", "", line) for line in lines]  # comments out
    return [m.group("rest") for c in candidates for m in INVOCATION.finditer(c)]


def flag_problems(text: str, top: set[str], commands: dict[str, set[str]]) -> list[str]:
    """What a document's ``livianet`` command lines show that the parser does not have."""
    problems = []
    for rest in command_lines(text):
        words = rest.split()
        shown = " ".join(["livianet", *words])
        while words and words[0].startswith("-"):  # options before the command
            if words[0].split("=")[0] not in top:
                problems.append(f"{shown}: no top-level option {words[0]}")
            words.pop(0)
        if not words or not re.fullmatch(r"[a-z][a-z-]*|[A-Z]+", words[0]):
            continue  # `livianet 0.1.0`, a path: not a command line
        name = words[0]
        if name.isupper():  # a placeholder (`livianet COMMAND --help`): what every command has
            known = set.intersection(*commands.values())
        elif name in commands:
            known = commands[name]
        else:
            problems.append(f"{shown}: no command {name!r}")
            continue
        for flag in FLAG.findall(" ".join(words[1:])):
            if flag not in known:
                problems.append(f"{shown}: `{name}` has no option {flag}")
    return problems


def test_every_livianet_flag_shown_in_the_docs_exists():
    top, commands = parser_options()
    shown = [line for doc in DOCS for line in command_lines(doc.read_text())]
    assert len(shown) > 30, "the docs show livianet's command lines"
    problems = [
        f"{doc.relative_to(ROOT)}: {problem}"
        for doc in DOCS
        for problem in flag_problems(doc.read_text(), top, commands)
    ]
    assert not problems, "\n".join(problems)


def test_a_made_up_flag_or_command_is_caught():
    top, commands = parser_options()
    text = (
        "Run `livianet segment MODEL.pt t1.nii.gz --out r/ --no-such-flag` or\n\n"
        "```bash\nlivianet train x.ini \\\n    --resume C --frobnicate   # --in-a-comment\n"
        "livianet --loud trian x.ini\nlivianet -v demo --minutes 5\n```\n"
    )
    assert flag_problems(text, top, commands) == [
        "livianet segment MODEL.pt t1.nii.gz --out r/ --no-such-flag: `segment` has no option"
        " --no-such-flag",
        "livianet train x.ini --resume C --frobnicate: `train` has no option --frobnicate",
        "livianet --loud trian x.ini: no top-level option --loud",
        "livianet --loud trian x.ini: no command 'trian'",
    ]


# ----------------------------------------------------------------------------- links and sections

LINK = re.compile(r"(!?)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
# A section named in prose: "see *Heading*" or "*Heading* below/above" in the same document, and
# `path.md, "Heading"` in another; a heading matches when it starts with the name.
SAME_DOC_SECTION = re.compile(r"\bsee \*([^*\n]+)\*|\*([^*\n]+)\* (?:below|above)\b")
OTHER_DOC_SECTION = re.compile(r"([\w./-]+\.md)\)?[,:]? \"([A-Z][^\"\n]+)\"")


def heading_texts(path: Path) -> list[str]:
    """A document's headings as read: markup (backticks, emphasis, link targets) left out."""
    _, prose = split_markdown(path.read_text())
    texts = []
    for raw in HEADING.findall(prose):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw)
        texts.append(" ".join(re.sub(r"[`*]", "", text).split()))
    return texts


def github_anchors(path: Path) -> set[str]:
    """The ``#anchors`` GitHub gives a document's headings: lower case, punctuation but ``-`` and
    ``_`` dropped, spaces to ``-``, ``-1``, ``-2`` ... after repeats; and explicit ``id``s."""
    seen: dict[str, int] = {}
    anchors = set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text()))
    for text in heading_texts(path):
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def names_a_heading(path: Path, name: str) -> bool:
    name = " ".join(name.replace("`", "").split())
    return any(re.match(rf"{re.escape(name)}(\W|$)", text) for text in heading_texts(path))


def link_problems(doc: Path) -> list[str]:
    """Relative links, anchors, images and named sections of ``doc`` that lead nowhere."""
    _, prose = split_markdown(doc.read_text())
    prose = re.sub(r"`[^`]*`", "", prose)  # code shows links, it does not make them
    problems = []
    for image, target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif image and not file.is_file():
            problems.append(f"{target}: an image link to a folder")
        elif anchor and anchor not in github_anchors(file):
            problems.append(f"{target}: no heading with the anchor #{anchor}")
    for match in SAME_DOC_SECTION.finditer(prose):
        name = match.group(1) or match.group(2)
        if not names_a_heading(doc, name):
            problems.append(f"*{name}*: no such section here")
    for path, name in OTHER_DOC_SECTION.findall(prose):
        file = next((f for f in (doc.parent / path, ROOT / path) if f.is_file()), None)
        if file is None:
            problems.append(f'{path}, "{name}": no such file')
        elif not names_a_heading(file, name):
            problems.append(f'{path}, "{name}": no such section there')
    return problems


def test_every_link_anchor_and_named_section_in_the_docs_resolves():
    problems = [f"{doc.relative_to(ROOT)}: {p}" for doc in DOCS for p in link_problems(doc)]
    assert not problems, "\n".join(problems)


def test_a_broken_link_anchor_or_section_is_caught(tmp_path):
    (tmp_path / "other.md").write_text(
        "# Other\n\n## Step 2: the `fast` one (b)\n\n## Again\n\n## Again\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n\n## Data and licences\n\nSee *Data and licences*; see *Nothing here*.\n"
        "[ok](other.md#step-2-the-fast-one-b), [twice](other.md#again-1), [self](#doc),"
        " [gone](missing.md), [bad](other.md#step-3), ![folder](.), `[code](missing.md)`\n"
        'As other.md, "Step 2" says, and other.md, "Step 9" does not.\n'
    )
    assert link_problems(doc) == [
        "missing.md: no such file",
        "other.md#step-3: no heading with the anchor #step-3",
        ".: an image link to a folder",
        "*Nothing here*: no such section here",
        'other.md, "Step 9": no such section there',
    ]


def test_every_picture_in_docs_images_is_shown_somewhere():
    shown = {
        (doc.parent / target).resolve()
        for doc in DOCS
        for image, target in LINK.findall(split_markdown(doc.read_text())[1])
        if image
    }
    unused = [p.name for p in sorted((ROOT / "docs" / "images").iterdir()) if p not in shown]
    assert not unused, f"docs/images: not shown in any document: {unused}"


# A file of this repository named by its path from the root (`REPO/` standing for the root).
REPO_PATH = re.compile(
    r"(?<![\w./-])(?:REPO/)?((?:bench|docs|models|src|tests)/[\w./-]*\w\.(?:py|md|ini|tsv|txt|png))"
    r"(?![\w/-])"
)


def test_every_file_of_the_repository_named_in_the_docs_exists():
    missing = [
        f"{doc.relative_to(ROOT)}: {path}"
        for doc in DOCS
        for path in sorted(set(REPO_PATH.findall(doc.read_text())))
        if not (ROOT / path).exists()
    ]
    assert not missing, "no such file:\n" + "\n".join(missing)


# A name in livianet's code, in backticks: `livianet.io.load_volume`, `inference.batch.segment_files`.
PACKAGES = (
    "atomic|cli|config|data|demo|errors|evaluation|inference|io|networks|reporting|runtime|training"
)
CODE_NAME = re.compile(
    rf"`((?:livianet\.)?(?:{PACKAGES}|version)(?:\.[A-Za-z_]\w*)+)`"
    r"(?<!\.py`)(?<!\.md`)(?<!\.html`)(?<!\.json`)(?<!\.csv`)"
)


def resolves(dotted: str) -> bool:
    """Whether ``livianet.<dotted>`` is a module, or a name inside one."""
    parts = ["livianet", *dotted.removeprefix("livianet.").split(".")]
    for split in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_livianet_name_in_the_docs_exists():
    named = {(doc, name) for doc in DOCS for name in CODE_NAME.findall(doc.read_text())}
    assert len(named) > 10, "the docs name livianet's functions"
    missing = [
        f"{doc.relative_to(ROOT)}: {name}" for doc, name in sorted(named) if not resolves(name)
    ]
    assert not missing, "no such module or name:\n" + "\n".join(missing)
    assert not resolves("inference.gone.segment_files") and not resolves("io.gone")  # caught
