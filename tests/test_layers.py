"""The package's import layering: ``base -> processors / _compute / integrations ->
introspectors -> report -> cli``, no arrow pointing back up.

Every ``import`` statement of every module under ``src/deepview`` is read with :mod:`ast`
(also those inside functions and ``if TYPE_CHECKING:`` blocks), each module is mapped to its
layer, and no module may import from a higher layer, nor from a sibling layer of the same
rank (processors, _compute and integrations do not know each other).

The one allowed exception: ``deepview.introspectors`` re-exports ``DatasetReport``,
``DuplicatesConfig`` and ``ReportConfig`` from ``deepview.report`` (the published API names
them there) lazily, through its module ``__getattr__``; the report itself imports every
introspector from its own module, never through the ``deepview.introspectors`` package, so
no circle forms.

No module uses another module's private names either (``from X import _name``, or
``X._name`` of an imported module ``X``): what siblings share has a public name inside its
private module.  Private submodules (``from deepview.introspectors._duplicates import
Duplicates``) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "deepview"

#: layer -> rank; a module may import its own layer and layers of lower rank only
RANKS = {
    "base": 0,
    "processors": 1,
    "_compute": 1,
    "integrations": 1,
    "introspectors": 2,
    "report": 3,
    "cli": 4,
}
#: the allowed upward imports: (importing module, imported module), see the module docstring
ALLOWED_UP = {("deepview.introspectors", "deepview.report")}
#: base-layer helpers every layer may use, the CLI included (the optional-dependency hint,
#: the Parquet inputs every engine reads)
SHARED_PRIVATE = {"deepview._optional", "deepview._parquet"}


def layer_of(module: str) -> str:
    """``deepview.report._site`` -> ``report``; the package root and its top-level helper
    modules (exceptions, typing, _validation, ...) belong to ``base``."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in RANKS:
        return parts[1]
    return "base"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Absolute names of the deepview modules (or names in them) ``path`` imports."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path),
                      is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, *, is_package: bool) -> list[tuple[str, int]]:
    """``(imported name, line)`` of every deepview import in ``source`` of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return [(m, line) for m, line in found if m == "deepview" or m.startswith("deepview.")]


def upward(importer: str, imports: list[tuple[str, int]]) -> list[str]:
    """The imports of ``importer`` that point up a layer or to a sibling layer."""
    own = layer_of(importer)
    bad = []
    for imported, line in imports:
        other = layer_of(imported)
        if other == own or RANKS[other] < RANKS[own]:
            continue
        if any(importer == a and imported.startswith(b) for a, b in ALLOWED_UP):
            continue
        bad.append(f"line {line}: {imported} ({other}, rank {RANKS[other]})")
    return bad


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_layer_is_known() -> None:
    layers = {layer_of(module_name(p)) for p in MODULES}
    assert layers == set(RANKS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_points_up_a_layer(path: Path) -> None:
    importer = module_name(path)
    bad = upward(importer, imports_of(path))
    assert not bad, f"{importer} ({layer_of(importer)}) imports from above or beside: {bad}"


@pytest.mark.parametrize("path", [p for p in MODULES if layer_of(module_name(p)) == "cli"],
                         ids=lambda p: module_name(p))
def test_cli_imports_only_public_modules_of_other_layers(path: Path) -> None:
    """The CLI uses what the other layers publish: no ``_private`` module or name."""
    bad = [
        f"line {line}: {imported}" for imported, line in imports_of(path)
        if layer_of(imported) != "cli"
        and not any(imported.startswith(p) for p in SHARED_PRIVATE)
        and any(part.startswith("_") for part in imported.split("."))
    ]
    assert not bad, f"{module_name(path)} imports private names of other layers: {bad}"


#: private names of other modules still used, in modules outside the change that made the
#: rule (each should move to a public name in its private module): (importer, name)
PRIVATE_STILL_USED: set[tuple[str, str]] = set()


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, module: str, *, is_package: bool,
                 modules: set[str]) -> list[tuple[str, int]]:
    """``(name, line)`` of each private name of another deepview module (not a submodule
    in ``modules``) that ``source`` of ``module`` imports, or reads as an attribute of a
    module it imported."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> the deepview module it names
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update({alias.asname: alias.name for alias in node.names
                          if alias.asname and alias.name in modules})
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{target}.{alias.name}"
                if name in modules:
                    bound[alias.asname or alias.name] = name
                elif _is_private(alias.name) and target != module and target in modules:
                    found.append((name, node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in bound and _is_private(node.attr)
                and bound[node.value.id] != module
                and f"{bound[node.value.id]}.{node.attr}" not in modules):
            found.append((f"{bound[node.value.id]}.{node.attr}", node.lineno))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_uses_private_names_of_another(path: Path) -> None:
    importer = module_name(path)
    found = private_uses(path.read_text(encoding="utf-8"), importer,
                         is_package=path.name == "__init__.py",
                         modules={module_name(p) for p in MODULES})
    bad = [f"line {line}: {name}" for name, line in found
           if (importer, name) not in PRIVATE_STILL_USED]
    assert not bad, (f"{importer} uses private names of other modules: {bad}; give them a "
                     "public name in their module")


def test_the_private_name_check_sees_imports_and_attributes() -> None:
    modules = {"deepview.report", "deepview.report._a", "deepview.report._b",
               "deepview.introspectors._duplicates"}
    source = (
        "from deepview.introspectors._duplicates import Duplicates, _kth_above\n"
        "from . import _b\n"
        "from ._b import _helper, public\n"
        "import deepview.report._b as b2\n"
        "from ._a import _own\n"
        "x = _b._secret + b2._other + _b.__name__ + _b.fine\n"
    )
    found = private_uses(source, "deepview.report._a", is_package=False, modules=modules)
    assert sorted(name for name, _ in found) == [
        "deepview.introspectors._duplicates._kth_above", "deepview.report._b._helper",
        "deepview.report._b._other", "deepview.report._b._secret"]


def test_the_report_imports_no_introspector_through_the_package() -> None:
    """``from deepview.introspectors import X`` in the report would load the package whose
    ``__getattr__`` re-exports the report: the report names each introspector's module."""
    bad = [
        f"{module_name(p)} line {line}: {imported}"
        for p in MODULES if layer_of(module_name(p)) == "report"
        for imported, line in imports_of(p)
        if imported.rpartition(".")[0] == "deepview.introspectors"
        and not imported.rpartition(".")[2].startswith("_")
    ]
    assert not bad


def test_the_lazy_re_exports_are_the_only_names_from_above() -> None:
    import deepview.introspectors as introspectors

    up = {name: module for name, module in introspectors._EXPORTS.items()
          if not module.startswith("_")}
    assert up == {"DatasetReport": "deepview.report", "DuplicatesConfig": "deepview.report",
                  "ReportConfig": "deepview.report"}
    from deepview.report import DatasetReport, DuplicatesConfig, ReportConfig

    assert introspectors.DatasetReport is DatasetReport
    assert introspectors.DuplicatesConfig is DuplicatesConfig
    assert introspectors.ReportConfig is ReportConfig


def import_graph() -> dict[str, set[str]]:
    """Module -> the deepview modules it imports (a name imported from a module counts as
    that module; the implicit import of a parent package does not)."""
    modules = {module_name(p) for p in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        importer = module_name(path)
        graph[importer] = set()
        for imported, _ in imports_of(path):
            while imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported != importer:
                graph[importer].add(imported)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycle() -> None:
    """No module imports itself through others, e.g. the CLI and its demo (they share
    ``deepview.cli._build`` instead), or the report and the introspectors package."""
    assert find_cycle(import_graph()) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_check_sees_upward_and_relative_imports() -> None:
    """The checks above cannot pass vacuously: relative imports are resolved, and imports
    inside functions count."""
    source = (
        "import numpy\n"
        "from ..report import columns\n"
        "from . import _base\n"
        "def f():\n"
        "    from deepview.cli import main\n"
    )
    found = imports_in(source, "deepview.processors._fake", is_package=False)
    assert [m for m, _ in found] == ["deepview.report.columns", "deepview.processors._base",
                                     "deepview.cli.main"]
    assert len(upward("deepview.processors._fake", found)) == 2
    assert upward("deepview.introspectors", [("deepview.report.DatasetReport", 1)]) == []
    assert upward("deepview.introspectors._familiarity", [("deepview.report", 1)]) != []
    assert upward("deepview._compute.knn", [("deepview.processors", 1)]) != []  # sibling
