"""Lazy package initializers for the ``anthropic`` SDK (cold start of the agent step).

``import anthropic`` runs the SDK's package ``__init__`` files, which re-export *everything*: every
type (the beta, organization and session APIs included), the Vertex, Foundry, Google Cloud and AWS
clients, the tool runners. That is ~7x a bare ``import boto3``, for one ``messages.create`` call.

:func:`install` puts a finder on ``sys.meta_path`` for one distribution's packages. A package whose
``__init__.py`` only re-exports names from its own submodules (``from .x import Y as Y``: all of
anthropic's but the top one, which we handle, and ``lib/streaming``, which runs as it is) is not
executed; its module gets a PEP 562 ``__getattr__`` that imports ``.x`` the first time ``Y`` is read.
The SDK's code, classes and behaviour are the same; only the modules nobody reads are never loaded.
Names that a star import would bring in are found by reading the star's target the same way. The
top package's own statements besides imports are replayed: its logging setup, and the ``__module__``
rewrite of its public names (``anthropic.RateLimitError``).

Which names a package exports comes from its ``__init__.py`` source (``ast``): the installed files
are the truth, so an SDK upgrade that changes its layout keeps working, and a package this module
cannot read (anything but re-exports) is simply imported normally.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

# name -> (module, attribute in it or None for the module itself), or (EXPRESSION, source of the
# value of a module-level assignment, evaluated in the package's namespace when first read)
Exports = dict[str, tuple[str, str | None]]
EXPRESSION = "="


class _Namespace(dict[str, Any]):
    """Locals for evaluating a lazy assignment: names the package exports resolve on lookup."""

    def __init__(self, module: ModuleType) -> None:
        super().__init__()
        self.module = module

    def __missing__(self, name: str) -> Any:
        try:
            return getattr(self.module, name)
        except AttributeError:
            raise KeyError(name) from None


def _relative(package: str, level: int, module: str | None) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside ``package``."""
    base = package.rsplit(".", level - 1)[0] if level > 1 else package
    return f"{base}.{module}" if module else base


class _Reader:
    """Reads a package's ``__init__.py`` into its exports (None: it does more than re-export)."""

    def __init__(self, root: str, top_statements_allowed: bool) -> None:
        self.root = root
        self.top_statements_allowed = top_statements_allowed
        self.root_dir: str | None = None  # the root package's directory, set when it is found

    def exports(self, package: str, origin: str) -> tuple[Exports, list[str]] | None:
        try:
            with open(origin, encoding="utf-8") as f:
                tree = ast.parse(f.read(), origin)
        except (OSError, SyntaxError, ValueError):
            return None
        exports: Exports = {}
        public: list[str] = []
        lenient = self.top_statements_allowed and package == self.root
        for node in self._statements(tree.body, lenient):
            if node is None:
                return None
            if isinstance(node, ast.ImportFrom):
                if node.module == "__future__":
                    continue
                if node.level == 0:
                    if not lenient:  # an outside import (`from typing_extensions import TypeAlias`)
                        exports.update({a.asname or a.name: (str(node.module), a.name) for a in node.names})
                    continue
                source = _relative(package, node.level, node.module)
                for alias in node.names:
                    if alias.name == "*":
                        star = self._star(source)
                        if star is None:
                            return None
                        exports.update({k: v for k, v in star.items() if k not in exports})
                    elif node.module is None:  # from . import x
                        exports[alias.asname or alias.name] = (f"{source}.{alias.name}", None)
                    else:
                        exports[alias.asname or alias.name] = (source, alias.name)
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if names == ["__all__"] and isinstance(node.value, (ast.List, ast.Tuple)):
                    public = [e.value for e in node.value.elts if isinstance(getattr(e, "value", None), str)]
                elif len(names) == 1 == len(node.targets) and not lenient:
                    exports[names[0]] = (EXPRESSION, ast.unparse(node.value))
                elif not lenient:
                    return None
            elif isinstance(node, ast.AnnAssign):
                if not (isinstance(node.target, ast.Name) and node.value is not None) or lenient:
                    return None
                exports[node.target.id] = (EXPRESSION, ast.unparse(node.value))  # `X: TypeAlias = Y[Z]`
        return exports, public

    def _statements(self, body: Sequence[ast.stmt], lenient: bool) -> list[ast.stmt | None]:
        out: list[ast.stmt | None] = []
        for node in body:
            if isinstance(node, (ast.ImportFrom, ast.Assign, ast.AnnAssign)):
                out.append(node)
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring
            elif lenient and isinstance(node, ast.If):
                out.extend(self._statements(node.body, lenient))  # `if not TYPE_CHECKING: from . import x`
            elif lenient:
                continue  # replayed by _TOP_EFFECTS, or cosmetic
            else:
                out.append(None)
        return out

    def _star(self, module: str) -> Exports | None:
        """What ``from <module> import *`` binds, read from its source without importing it: its
        ``__all__``, else every public name it imports or defines. Each resolves through ``module``."""
        if self.root_dir is None:
            return None
        origin = os.path.join(self.root_dir, *module.split(".")[1:], "__init__.py")
        try:
            with open(origin, encoding="utf-8") as f:
                tree = ast.parse(f.read(), origin)
        except (OSError, SyntaxError, ValueError):
            return None  # a star from a plain module, say: not resolvable without importing it
        public: list[str] | None = None
        names: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                names += [a.asname or a.name for a in node.names if a.name != "*"]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.append(node.target.id)
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if targets == ["__all__"] and isinstance(node.value, (ast.List, ast.Tuple)):
                    public = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
                else:
                    names += targets
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) and public is None:
                return None  # a star of a star without __all__: give up, import normally
        chosen = public if public is not None else [n for n in names if not n.startswith("_")]
        return {n: (module, n) for n in chosen}


class _LazyInit(importlib.abc.Loader):
    def __init__(self, exports: Exports, public: list[str], rename_public: bool) -> None:
        self.exports = exports
        self.public = public
        self.rename_public = rename_public

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        exports, public, package = self.exports, set(self.public), module.__name__
        rename = self.rename_public

        def __getattr__(name: str) -> Any:
            target = exports.get(name)
            if target is None:
                if name.startswith("__"):
                    raise AttributeError(name)
                try:  # a submodule nobody has imported yet (`anthropic.types.beta`)
                    value: Any = importlib.import_module(f"{package}.{name}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{package}.{name}":
                        raise
                    raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
            else:
                source, attr = target
                if source == EXPRESSION:
                    value = eval(str(attr), module.__dict__, _Namespace(module))  # the package's own source
                else:
                    value = importlib.import_module(source)
                    if attr is not None:
                        value = getattr(value, attr)
                if rename and name in public:
                    with contextlib.suppress(TypeError, AttributeError):  # builtins
                        value.__module__ = package
            setattr(module, name, value)
            return value

        def __dir__() -> list[str]:
            return sorted(set(module.__dict__) | set(exports))

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        module.__dir__ = __dir__  # type: ignore[method-assign]
        if self.public:
            module.__all__ = list(self.public)


class LazyPackages(importlib.abc.MetaPathFinder):
    """Finds the packages of ``root`` and gives the re-export-only ones a lazy initializer."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.reader = _Reader(root, top_statements_allowed=True)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.root and not fullname.startswith(self.root + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.origin.endswith("__init__.py"):
            return None  # a plain module (or not found): the normal machinery
        if fullname == self.root:
            self.reader.root_dir = os.path.dirname(spec.origin)
        read = self.reader.exports(fullname, spec.origin)
        if read is None:
            return spec  # runs its __init__ as usual
        exports, public = read
        spec.loader = _LazyInit(exports, public, rename_public=fullname == self.root)
        return spec


# The top package's statements other than re-exports, replayed after its lazy module exists.
_TOP_EFFECTS = {"anthropic": ("anthropic._utils._logs", "setup_logging")}


def install(root: str = "anthropic") -> bool:
    """Make ``root``'s package initializers lazy, unless ``root`` is imported already. Idempotent.
    Returns whether ``root`` is (now) lazily initialized."""
    if root in sys.modules:
        return isinstance(getattr(sys.modules[root], "__spec__", None) and sys.modules[root].__spec__.loader, _LazyInit)
    if not any(isinstance(f, LazyPackages) and f.root == root for f in sys.meta_path):
        sys.meta_path.insert(0, LazyPackages(root))
    importlib.import_module(root)
    effect = _TOP_EFFECTS.get(root)
    if effect:
        getattr(importlib.import_module(effect[0]), effect[1])()
    return True
