"""Griffe extension: show deepview's nested strategy classes and turn Sphinx roles into Markdown.

Strategies are class attributes bound to classes defined elsewhere
(``class Strategy: GMM = _GMM``); griffe sees plain attributes, so the API reference would
not show them.  :meth:`SphinxRoles.on_package` first turns every such attribute of a class
into an alias of the class it names, so that ``Familiarity.Strategy.GMM`` or
``DimensionReduction.Strategy.UMAP`` are documented where users reach them (and gives
``@dataclass(init=False)`` subclasses their inherited ``__init__``, so that their signature
shows).

deepview's docstrings are numpy style and use Sphinx roles (``:class:`~deepview.base.Batch```,
``:meth:`introspect```) and reST literals (````x````, a paragraph ending in ``::``).  The docs
site renders docstrings as Markdown with mkdocstrings, which does not know the roles, so this
extension rewrites them when the package is loaded:

- a role whose target is one of the documented public names (the ``__all__`` of the modules
  in :data:`PUBLIC_MODULES` and their classes' documented members) becomes a cross-reference
  ``[`Batch`][deepview.base.Batch]`` (resolved relative to the class the docstring belongs
  to, then by a unique name match);
- any other role (private helpers, numpy, pathlib) becomes plain code ```Batch```;
- a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already code).

Used by ``mkdocs.yml`` (``extensions: [docs/scripts/griffe_sphinx_roles.py]``).
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

PUBLIC_MODULES = (
    "deepview.base",
    "deepview.processors",
    "deepview.introspectors",
    "deepview.integrations.torch",
    "deepview.exceptions",
)

_ROLE = re.compile(r":(?:py:)?(class|meth|func|attr|mod|data|obj|exc):`([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(\S)::\n")


def _public_names() -> tuple[dict[str, str], dict[str, str]]:
    """(documented public path -> itself, canonical path -> public path)."""
    public: dict[str, str] = {}
    canonical: dict[str, str] = {}
    for modname in PUBLIC_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError:  # an optional extra is missing: its page has nothing to link
            continue
        public[modname] = modname
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            path = f"{modname}.{name}"
            public[path] = path
            qual = getattr(obj, "__qualname__", None)
            if qual and getattr(obj, "__module__", None):
                canonical.setdefault(f"{obj.__module__}.{qual}", path)
            if inspect.isclass(obj):
                _members(obj, path, public, depth=2)
    return public, canonical


def _members(cls: type, path: str, public: dict[str, str], depth: int) -> None:
    """Add the documented public members of ``cls`` (and of its nested classes)."""
    for attr, member in vars(cls).items():
        if attr.startswith("_"):
            continue
        doc = getattr(member, "__doc__", None)
        if isinstance(member, (staticmethod, classmethod)):
            doc = member.__func__.__doc__
        if inspect.isclass(member):
            doc = vars(member).get("__doc__")  # its own docstring, not an inherited one
        if isinstance(doc, str) and doc.strip():
            public[f"{path}.{attr}"] = f"{path}.{attr}"
            if inspect.isclass(member) and depth > 0:
                _members(member, f"{path}.{attr}", public, depth - 1)


def _alias_class_attributes(pkg: griffe.Module) -> None:
    """Replace ``class C: Name = SomeClass`` attributes by aliases of ``SomeClass``."""
    collection = pkg.modules_collection

    def resolve(path: str) -> griffe.Object | None:
        try:
            found = collection.get_member(path)
        except (KeyError, ValueError, AttributeError):
            return None
        if isinstance(found, griffe.Alias):
            try:
                found = found.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                return None
        return found if isinstance(found, griffe.Object) else None

    def visit(obj: griffe.Object) -> None:
        for name, member in list(obj.members.items()):
            if member.is_alias:
                continue
            if obj.is_class and member.is_attribute and not name.startswith("_"):
                value = member.value  # type: ignore[union-attr]
                if isinstance(value, (griffe.ExprName, griffe.ExprAttribute)):
                    target = resolve(value.canonical_path)
                    if target is None or not target.is_class:
                        # ``PCA: Final = PCA``: in the class body the name resolves to the
                        # attribute itself; the class is the module-level name
                        target = resolve(f"{obj.module.path}.{value}")
                    if target is not None and target.is_class:
                        obj.set_member(name, griffe.Alias(name, target, parent=obj))  # type: ignore[arg-type]
                        continue
            if member.is_class:
                _inherit_init(member)  # type: ignore[arg-type]
            if member.is_class or member.is_module:
                visit(member)  # type: ignore[arg-type]

    visit(pkg)


def _inherit_init(cls: griffe.Class) -> None:
    """``@dataclass(init=False)`` subclasses inherit ``__init__``, but griffe's dataclass
    extension (which runs after this one) would synthesise an empty one from the fields,
    hiding the real signature (and making the documented parameters look unknown).  Point
    ``__init__`` at the inherited one first, so that the dataclass extension leaves it."""
    if "__init__" in cls.members or not any(
            "dataclass" in str(d.value) and "init=False" in str(d.value)
            for d in cls.decorators):
        return
    try:
        bases = cls.mro()
    except (ValueError, griffe.AliasResolutionError):
        return
    for base in bases:
        init = base.members.get("__init__")
        if init is not None and not init.is_alias and init.lineno:
            cls.set_member("__init__", griffe.Alias("__init__", init, parent=cls,
                                                     inherited=True))
            return


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and reST literal markers in every docstring of the package."""

    def __init__(self) -> None:
        super().__init__()
        self.public, self.canonical = _public_names()
        self.by_tail: dict[str, list[str]] = {}
        for path in self.public:
            parts = path.split(".")
            for i in range(1, len(parts)):
                self.by_tail.setdefault(".".join(parts[i:]), []).append(path)

    def _owner(self, obj: griffe.Object) -> str | None:
        """Public path of the class (or module) whose docstring this is, if documented."""
        path = obj.path
        while path:
            if path in self.canonical:
                return self.canonical[path]
            if path in self.public:
                return path
            path = path.rpartition(".")[0]
        return None

    def _resolve(self, target: str, owner: str | None) -> str | None:
        if target in self.public:
            return target
        if owner:
            scope = owner
            while scope:
                if f"{scope}.{target}" in self.public:
                    return f"{scope}.{target}"
                scope = scope.rpartition(".")[0]
        found = self.by_tail.get(target, [])
        return found[0] if len(found) == 1 else None

    def _rewrite(self, text: str, owner: str | None) -> str:
        def role(match: re.Match[str]) -> str:
            kind, target = match.group(1), match.group(2).strip()
            if "<" in target and target.endswith(">"):  # :class:`title <target>`
                title, target = (s.strip() for s in target[:-1].split("<", 1))
            else:
                short = target.startswith("~")
                target = target.lstrip("~.")
                title = target.rsplit(".", 1)[-1] if short else target
            if kind in ("meth", "func") and not title.endswith(")"):
                title += "()"
            resolved = self._resolve(target, owner)
            return f"[`{title}`][{resolved}]" if resolved else f"`{title}`"

        text = _ROLE.sub(role, text)
        return _LITERAL_BLOCK.sub(r"\1:\n", text)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _alias_class_attributes(pkg)
        seen: set[int] = set()

        def visit(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = self._rewrite(obj.docstring.value, self._owner(obj))
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)  # type: ignore[arg-type]

        visit(pkg)
