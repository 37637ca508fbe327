"""The package's import rules: subpackages in layers, each importing only the layers below it.

Every ``import`` counts, at module level, inside functions and under
``TYPE_CHECKING`` alike (read from the source with ``ast``, nothing imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "livianet"

# Top first. A subpackage may import its own modules and any package of a lower layer;
# packages of one layer may import each other as long as no cycle forms.
LAYERS: list[set[str]] = [
    {"cli"},
    {"demo", "bids"},
    {"training"},
    {"inference", "cache"},
    {"data", "networks", "evaluation", "reporting", "synthesis"},
    {"config", "io", "runtime"},
]
# Modules at the top of the package sit below every layer and import only each other.
FOUNDATION = {"errors", "atomic", "version"}
# The package's face (lazy public API) and ``python -m livianet`` sit above everything.
FACE = {"__init__", "__main__"}
# networks may import only these from the config package (the schema, not the INI reader).
NETWORKS_CONFIG = {"livianet.config.schema"}
# Development tools that nothing at run time may import.
TOOLS = {"livianet.config.docs"}
# The longest a function may be; declarative tables are data, not logic.
MAX_FUNCTION_LINES = 80
LONG_BY_DESIGN = {"config/keys.py"}


def _layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"subpackage {package!r} has no place in LAYERS: give it one")


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted module)`` of every livianet import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "livianet"
            ]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; use livianet.<...>"
            if node.module and node.module.split(".")[0] == "livianet":
                if node.module == "livianet":  # from livianet import x: x is a module or a name
                    found += [(node.lineno, f"livianet.{a.name}") for a in node.names]
                else:
                    found.append((node.lineno, node.module))
    return found


def _unit(dotted: str) -> str:
    """The subpackage or top-level module a dotted name belongs to."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _owner(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_subpackage_has_a_layer_and_few_modules_stay_at_the_top():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    for package in packages:
        _layer_of(package)
    top = {p.stem for p in PACKAGE.glob("*.py")} - FACE
    assert top <= FOUNDATION and len(top) <= 4, top


def test_no_subpackage_imports_a_higher_layer():
    problems = []
    for path in _modules():
        owner = _owner(path)
        if owner in FACE:
            continue
        for line, dotted in _imports(path):
            target = _unit(dotted)
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {dotted}"
            if target in FACE:
                problems.append(f"{where}: only the outside world imports the package face")
            elif owner in FOUNDATION:
                if target not in FOUNDATION:
                    problems.append(f"{where}: top-level modules import only each other")
            elif target in FOUNDATION or target == owner:
                continue
            elif _layer_of(target) < _layer_of(owner):
                problems.append(f"{where}: {target} is in a higher layer than {owner}")
            elif owner == "networks" and target != "runtime" and dotted not in NETWORKS_CONFIG:
                problems.append(f"{where}: networks imports only config.schema and runtime")
    assert not problems, "\n".join(problems)


def test_no_cycles_between_packages_of_one_layer():
    edges: dict[str, set[str]] = {}
    for path in _modules():
        owner = _owner(path)
        if owner in FACE or owner in FOUNDATION:
            continue
        for _, dotted in _imports(path):
            target = _unit(dotted)
            if target not in FACE and target not in FOUNDATION and target != owner:
                edges.setdefault(owner, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(p for p in edges if reaches(p, p, {p}))
    assert not cycles, f"import cycles through {cycles}: {edges}"


def test_development_tools_stay_out_of_the_runtime_import_graph():
    users = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in _modules()
        for line, dotted in _imports(path)
        if dotted in TOOLS
        and path.with_suffix("").relative_to(PACKAGE.parent).as_posix().replace("/", ".")
        not in TOOLS
    ]
    assert not users, users


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("from livianet.training import train\n", "higher layer"),
        ("from livianet.config.load import load_training_config\n", "only config.schema"),
        ("import livianet\n", "package face"),
    ],
)
def test_the_rules_catch_a_bad_import(tmp_path, monkeypatch, source, message):
    """A networks module that breaks a rule is reported (the checks can fail)."""
    fake = tmp_path / "livianet"
    (fake / "networks").mkdir(parents=True)
    (fake / "networks" / "__init__.py").write_text("")
    (fake / "networks" / "bad.py").write_text(source)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    with pytest.raises(AssertionError, match=message):
        test_no_subpackage_imports_a_higher_layer()


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Dotted targets imported when the module loads, ``TYPE_CHECKING`` blocks included."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return found


def _sibling_cycles(package: Path) -> list[list[str]]:
    """Import cycles between the modules of one subpackage (not through its ``__init__``)."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        home = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = _module_level_imports(ast.parse(path.read_text(), str(path)))
        edges[name] = {
            t for t in targets if t in modules and t != name and t.startswith(home + ".")
        }
    cycles = []
    for start in modules:
        stack = [[start]]
        while stack:
            trail = stack.pop()
            for nxt in edges.get(trail[-1], ()):
                if nxt == start:
                    cycles.append(trail)
                elif nxt not in trail and nxt > start:  # each cycle once, from its least module
                    stack.append([*trail, nxt])
    return cycles


def test_no_import_cycle_between_modules_of_a_subpackage():
    cycles = _sibling_cycles(PACKAGE)
    assert not cycles, "\n".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_cycle_check_finds_a_cycle_through_type_checking(tmp_path):
    package = tmp_path / "livianet" / "inference"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from livianet.inference.b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from livianet.inference.a import A\n"
    )
    assert _sibling_cycles(tmp_path / "livianet") == [
        ["livianet.inference.a", "livianet.inference.b"]
    ]


def _long_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() in LONG_BY_DESIGN:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{path.relative_to(root)}:{node.lineno} {node.name}: {length} lines"
                    )
    return found


def test_no_function_is_longer_than_a_screen():
    long = _long_functions(PACKAGE)
    assert not long, f"split these (at most {MAX_FUNCTION_LINES} lines):\n" + "\n".join(long)


def test_the_length_check_counts_a_long_function(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text("def f():\n" + body)
    assert _long_functions(tmp_path) == [f"long.py:1 f: {MAX_FUNCTION_LINES + 1} lines"]
