"""Griffe extension: turn the Sphinx roles of deepview's numpy docstrings into Markdown.

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
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if inspect.isclass(member) and member.__qualname__ != f"{qual}.{attr}":
                        continue  # an alias of a class defined elsewhere: no page section
                    doc = getattr(member, "__doc__", None)
                    if isinstance(member, (staticmethod, classmethod)):
                        doc = member.__func__.__doc__
                    if isinstance(doc, str) and doc.strip():
                        public[f"{path}.{attr}"] = f"{path}.{attr}"
    return public, canonical


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
