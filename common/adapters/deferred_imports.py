"""Packages whose ``__init__`` only re-exports names of their own modules,
loaded without running it: each name is imported from its module the first
time it is asked for (a module ``__getattr__``, PEP 562).

Powertools' event handler package imports every resolver it has (AppSync's
brings asyncio; Bedrock's, VPC Lattice's), its data classes package every
event source's class, and its idempotency package the DynamoDB layer
(boto3). An API function uses one resolver and one event class, so it pays
for the rest at every cold start (docs/adr/0033-cold-starts.md).

Nothing is guessed: the names and where they come from are read from the
package's own ``__init__`` (its source, parsed). A package whose ``__init__``
does anything but ``from <module> import <names>``, a docstring and
``__all__`` is imported as usual, as is one already imported, so a release
that changes its ``__init__`` costs the saving, never a name.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys

POWERTOOLS_PACKAGES = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.idempotency",
)


def defer_powertools_packages() -> tuple[str, ...]:
    """Defer the Powertools packages above; the names of those deferred."""
    return tuple(name for name in POWERTOOLS_PACKAGES if defer_package(name))


def defer_package(name: str) -> bool:
    """Put ``name`` in ``sys.modules`` with its ``__init__`` not run, if that is
    safe (see the module's docstring). True if it was deferred."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)  # imports the parent packages
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    try:
        source = spec.loader.get_source(name)  # type: ignore[attr-defined]
    except (ImportError, OSError):
        return False
    parsed = reexports(name, source) if isinstance(source, str) else None
    if parsed is None:
        return False
    exports, public = parsed
    package = importlib.util.module_from_spec(spec)

    def resolve(attribute: str) -> object:
        try:
            module_name, original = exports[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None
        value = getattr(importlib.import_module(module_name), original)
        setattr(package, attribute, value)
        return value

    namespace = vars(package)
    namespace["__getattr__"] = resolve
    namespace["__dir__"] = lambda: sorted({*namespace, *exports})
    if public is not None:
        namespace["__all__"] = public
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, package)
    # A name that is also one of its modules' names (``event_source``) is bound
    # now: once that module is imported, the import system would set the
    # module in its place and ``__getattr__`` would never be asked.
    modules = {module_name.rpartition(".")[2] for module_name, _ in exports.values()}
    for attribute in sorted(modules & exports.keys()):
        resolve(attribute)
    return True


def reexports(package: str, source: str) -> tuple[dict[str, tuple[str, str]], list[str] | None] | None:
    """Each name an ``__init__``'s source binds, with the module and name it
    imports, and its ``__all__``: None unless that is all the source does."""
    exports: dict[str, tuple[str, str]] = {}
    public: list[str] | None = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            module = importlib.util.resolve_name("." * node.level + node.module, package)
            if not module.startswith(f"{package}."):
                return None  # a name of another package: import as usual
            for alias in node.names:
                if alias.name == "*":
                    return None
                exports[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        elif (names := _all_of(node)) is not None:
            public = names
        else:
            return None
    return exports, public


def _all_of(node: ast.stmt) -> list[str] | None:
    """The names of ``__all__ = [...]`` (or a tuple) of strings; None for any other statement."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target = node.targets[0]
    if not (isinstance(target, ast.Name) and target.id == "__all__" and isinstance(node.value, ast.List | ast.Tuple)):
        return None
    names = [item.value for item in node.value.elts if isinstance(item, ast.Constant) and isinstance(item.value, str)]
    return names if len(names) == len(node.value.elts) else None
