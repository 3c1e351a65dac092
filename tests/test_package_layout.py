"""The package's layout: imports run one way between the wings, no import cycle (imports inside
functions included), a numpy-only analyser core, an explicit public API, and no Python line
longer than flake8's max-line-length."""
from __future__ import annotations

import ast
import configparser
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dglbal"

# The wings, lowest first: a module may import its own wing and the wings before it.
WINGS = ("dglbal._version", "dglbal._plotting", "dglbal._graph_inputs", "dglbal.symmetry.core",
         "dglbal.symmetry", "dglbal.balance", "dglbal.init", "dglbal.nn", "dglbal.diagnostics",
         "dglbal.integrations", "dglbal.data",
         "dglbal.experiments", "dglbal.distributed",
         "dglbal.cli", "dglbal.__main__")
# The public test kit sits beside the ladder: it may use these, and only tests import it.
TESTING = "dglbal.testing"
TESTING_MAY_IMPORT = ("dglbal.symmetry.core", "dglbal.symmetry", "dglbal.balance", "dglbal.nn",
                      TESTING)
# The top-level package is the library's facade: every wing but the application.
FACADE_MAY_IMPORT = ("dglbal._version", "dglbal.symmetry", "dglbal.balance", "dglbal.init",
                     "dglbal.nn", "dglbal.diagnostics")


def _module_name(path: Path) -> Tuple[str, bool]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(path: Path) -> Iterator[Tuple[str, int]]:
    """Every dglbal module ``path`` imports (a package for ``from pkg import name`` unless the
    name is a submodule), with the line, at any depth of the file."""
    name, is_package = _module_name(path)
    package = name if is_package else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "dglbal":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "dglbal":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if _exists(sub) else target), node.lineno


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> Dict[str, Set[str]]:
    graph: Dict[str, Set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name, _ = _module_name(path)
        graph.setdefault(name, set()).update(target for target, _ in _imports(path)
                                             if target != name)
    return graph


def _wing(module: str) -> str:
    if module == "dglbal":
        return module
    matches = [w for w in WINGS + (TESTING,) if module == w or module.startswith(w + ".")]
    assert matches, f"{module} belongs to no wing of the layout; add it to WINGS"
    return max(matches, key=len)


def test_every_module_belongs_to_a_wing() -> None:
    for module in _graph():
        _wing(module)


def test_imports_run_one_way_between_the_wings() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source, _ = _module_name(path)
        mine = _wing(source)
        for target, line in _imports(path):
            theirs = _wing(target)
            if theirs == "dglbal":
                allowed = False  # only the package's own __init__ is the facade
            elif mine == "dglbal":
                allowed = theirs in FACADE_MAY_IMPORT
            elif mine == TESTING:
                allowed = theirs in TESTING_MAY_IMPORT
            elif theirs == TESTING:
                allowed = False
            else:
                allowed = WINGS.index(theirs) <= WINGS.index(mine)
            if not allowed:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} -> {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    # A package's __init__ importing its own submodules is how a package is made; a
    # submodule importing its own package's __init__ back would close a cycle and is caught.
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack, on_stack, cycles, counter = [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_analyser_core_imports_only_numpy_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "dglbal"}
    for path in sorted((PACKAGE / "symmetry" / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_importing_the_library_loads_no_application_code() -> None:
    code = ("import sys, dglbal, dglbal.testing; "
            "print(sorted(m for m in sys.modules if m.startswith(('dglbal.experiments', "
            "'dglbal.cli', 'dglbal.distributed', 'matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out


PUBLIC_MODULES = sorted(name for name, _ in map(_module_name, PACKAGE.rglob("*.py"))
                        if not any(part.startswith("_") for part in name.split(".")))


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_declares_its_public_names(module: str) -> None:
    try:
        loaded = importlib.import_module(module)
    except ImportError as error:  # an integration whose optional extra is not installed
        if "pip install 'dglbal[" not in str(error):
            raise
        pytest.skip(str(error))
    names = getattr(loaded, "__all__", None)
    assert isinstance(names, list), f"{module} has no __all__ list"
    missing = [n for n in names if not hasattr(loaded, n)]
    assert not missing, f"{module}.__all__ names what it lacks: {missing}"
    private = [n for n in names if n.startswith("_") and n != "__version__"]
    assert not private, f"{module}.__all__ exports private names: {private}"


# The trees whose Python files the line-length rule covers.
LINE_LENGTH_TREES = ("dglbal", "benchmarks", "tests", "examples", "docs")


def _max_line_length() -> int:
    """flake8's max-line-length, read from setup.cfg so the number lives in one place."""
    config = configparser.ConfigParser(interpolation=None)
    assert config.read(REPO / "setup.cfg"), "setup.cfg not found beside the tests"
    return config.getint("flake8", "max-line-length")


def _tracked_python_files() -> Iterator[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", *LINE_LENGTH_TREES], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    for name in sorted(filter(None, listed.split("\0"))):
        if name.endswith(".py"):
            yield REPO / name


def test_no_python_line_is_longer_than_the_flake8_limit() -> None:
    limit = _max_line_length()
    files = list(_tracked_python_files())
    assert files, "git lists no Python file under " + ", ".join(LINE_LENGTH_TREES)
    long = []
    for path in files:
        if not path.is_file():  # tracked but deleted in the work tree
            continue
        # physical lines, trailing whitespace not counted: what flake8's E501 measures
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            length = len(line.rstrip())
            if length > limit:
                long.append(f"{path.relative_to(REPO)}:{number}: {length} > {limit}")
    assert not long, (f"{len(long)} lines longer than setup.cfg's [flake8] max-line-length = "
                      f"{limit}:\n" + "\n".join(long))
