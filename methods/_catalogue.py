"""What `angiobench methods list` shows of each method (name, label, description, what it
transfers, whether it pre-trains), read from the method files' source without importing them:
importing one imports torch, seconds before anything is shown.

The files are read as `registry()` finds them (the same modules, the same classes: each concrete
subclass of methods.base.Method with a `name`, defined in its own module) and each class attribute
as Python would resolve it along single inheritance, from the class's literal assignments and its
bases' (methods.base's own defaults included). A file this cannot follow (an attribute set by an
expression, a base class from elsewhere, a class under an `if`, two methods of one name) is not
guessed at: `methods.catalogue()` then asks the registry, which imports the methods.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.core.plugins import plugin_names

PACKAGE = Path(__file__).resolve().parent
#: The class attributes a card shows.
FIELDS = ("name", "label", "description", "transfers", "pretrains", "mask_grid")
#: torch's nn.Module, the base's base: contributes none of FIELDS.
ROOT = "torch.nn.Module"


def method_modules() -> list[str]:
    """The package's method modules, as the registry scans them (benchmark.core.plugins: not `base`)."""
    return plugin_names([PACKAGE], helpers=("base",))


@dataclass(frozen=True)
class MethodCard:
    """A method as `methods list` shows it."""

    name: str
    label: str
    description: str
    transfers: str
    pretrains: bool
    mask_grid: int | str | None = None

    @classmethod
    def of(cls, method: type) -> MethodCard:
        """The card of an imported method class."""
        return cls(**{field: getattr(method, field) for field in FIELDS})


class NotStatic(Exception):
    """A method file whose classes cannot be read without running it."""


@dataclass
class _Class:
    bases: list[str]  # "module.Class" keys of project classes, or ROOT
    values: dict[str, Any]  # the FIELDS its own body assigns


def _base_key(node: ast.expr, names: dict[str, str], module: str, where: str) -> str:
    """The key of a base class expression: a class of this module, one imported from `methods`, or
    torch's nn.Module; anything else cannot be followed."""
    if isinstance(node, ast.Attribute) and node.attr == "Module":  # nn.Module, torch.nn.Module
        return ROOT
    if isinstance(node, ast.Name):
        return names.get(node.id, f"{module}.{node.id}")
    raise NotStatic(f"{where}: base class {ast.unparse(node)} cannot be followed")


def _read_module(module: str) -> dict[str, _Class]:
    """The module's top-level classes: bases and literal FIELDS. Raises NotStatic where that is not
    all there is to know."""
    where = f"methods/{module}.py"
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(), where)
    names: dict[str, str] = {}  # local name → "module.Class" of what `from methods.x import Y` brings
    classes: dict[str, _Class] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "methods" and not node.level:
            names.update({alias.asname or alias.name: f"{node.module[len('methods.'):]}.{alias.name}"
                          for alias in node.names})
        elif isinstance(node, ast.ClassDef):
            values: dict[str, Any] = {}
            for item in node.body:
                target, value = _assignment(item)
                if target in FIELDS:
                    try:
                        values[target] = ast.literal_eval(value)
                    except ValueError:
                        raise NotStatic(f"{where}: {node.name}.{target} is not a literal") from None
            classes[f"{module}.{node.name}"] = _Class([_base_key(b, names, module, where) for b in node.bases], values)
        elif any(isinstance(inner, ast.ClassDef) for inner in ast.walk(node)) and not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise NotStatic(f"{where}: a class defined under a statement at line {node.lineno}")
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in FIELDS for t in node.targets):
            raise NotStatic(f"{where}: a class attribute set after its class, line {node.lineno}")
    return classes


def _assignment(item: ast.stmt) -> tuple[str | None, ast.expr | None]:
    """(name, value) of `name = value` or `name: T = value` in a class body; (None, None) otherwise."""
    if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
        return item.targets[0].id, item.value
    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
        return item.target.id, item.value
    return None, None


def _resolved(key: str, classes: dict[str, _Class]) -> tuple[dict[str, Any], bool]:
    """The FIELDS a class has (its own over its bases'), and whether it is a methods.base.Method."""
    own = classes[key]
    bases = [b for b in own.bases if b != ROOT]
    if len(bases) > 1 or any(b not in classes for b in bases):
        raise NotStatic(f"{key}: bases {', '.join(own.bases)} cannot be followed")
    if not bases:
        return dict(own.values), key == "base.Method"
    inherited, is_method = _resolved(bases[0], classes)
    return {**inherited, **own.values}, is_method or key == "base.Method"


def static_catalogue() -> dict[str, MethodCard]:
    """name → card of every method the registry would find, read from source (NotStatic where not)."""
    classes: dict[str, _Class] = {}
    for module in ["base", *method_modules()]:
        classes.update(_read_module(module))
    cards: dict[str, MethodCard] = {}
    for key in classes:
        if key.startswith("base."):
            continue
        values, is_method = _resolved(key, classes)
        if not is_method or not values.get("name"):
            continue
        if any(field not in values for field in FIELDS):
            raise NotStatic(f"{key}: no literal {', '.join(f for f in FIELDS if f not in values)}")
        card = MethodCard(**{field: values[field] for field in FIELDS})
        if card.name in cards:
            raise NotStatic(f"two methods are named {card.name!r}")
        cards[card.name] = card
    return dict(sorted(cards.items()))
