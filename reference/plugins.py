"""A registry of named classes of one kind (solvers, problems), found by the same routes:

* built in: ``{name: "module:Class"}``, imported on first use;
* an installed package's entry point in the kind's group (``name = "package.module:Class"``);
  a built-in name is not replaced by one;
* registered in code, by a plugin file or module (``solvers.load_plugin``).

A class is checked against its kind's contract (``faults``) when it is registered or first
imported; a broken one raises the kind's ``error`` naming the class, where it came from and
what is wrong.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

__all__ = ["Registry"]


class Registry:
    """Names -> classes of one ``kind``; see the module docstring."""

    def __init__(self, kind: str, group: str, builtin: dict[str, str], *,
                 faults: Callable[[Any], list[str]], error: type[Exception],
                 unknown: type[Exception], passthrough: tuple[type[BaseException], ...] = (),
                 check_builtin: bool = True):
        self.kind, self.group, self.builtin = kind, group, builtin
        self.faults, self.error, self.unknown = faults, error, unknown
        # exceptions of an import that are the caller's to handle (a missing optional extra)
        self.passthrough = passthrough
        self.check_builtin = check_builtin
        self._targets: dict[str, str | type] = {}
        self._origins: dict[str, str] = {}
        self._discovered = False

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for name, target in self.builtin.items():
            self._targets.setdefault(name, target)
            self._origins.setdefault(name, "built in")
        for ep in entry_points(group=self.group):
            if ep.name in self.builtin:
                continue
            self._targets.setdefault(ep.name, ep.value)
            self._origins.setdefault(ep.name, f"entry point {ep.name} = {ep.value} "
                                              f"({ep.dist.name if ep.dist else 'installed package'})")

    def names(self) -> list[str]:
        self._discover()
        return list(self._targets)

    def register(self, cls: type, origin: str = "registered in code") -> type:
        """Add a class, checked against the contract, under ``cls.name``."""
        self._discover()
        faults = self.faults(cls)
        if faults:
            raise self.error(f"{self.kind} {getattr(cls, '__name__', cls)!r} from {origin}: "
                             + "; ".join(faults))
        existing = self._targets.get(cls.name)
        if (existing is not None and existing is not cls and self._origins.get(cls.name) != origin
                and not (isinstance(existing, str) and _names_class(existing, cls))):
            raise self.error(f"{self.kind} name {cls.name!r} from {origin} is already taken by "
                             f"{self._origins.get(cls.name)}")
        if not isinstance(existing, str):  # an entry point keeps its origin when a suite names it
            self._origins[cls.name] = origin
        self._targets[cls.name] = cls
        return cls

    def get(self, name: str) -> type:
        """The class registered under ``name``, imported on first use."""
        self._discover()
        if name not in self._targets:
            raise self.unknown(f"unknown {self.kind} {name!r}; valid {self.kind}s: "
                               f"{', '.join(self._targets)}")
        target = self._targets[name]
        if isinstance(target, str):
            origin = self._origins[name]
            module, _, attr = target.partition(":")
            try:
                cls = getattr(importlib.import_module(module), attr)
            except self.passthrough:
                raise
            except Exception as exc:  # noqa: BLE001 - an installed plugin's failure, named
                raise self.error(f"{self.kind} {name!r} ({origin}) failed to import: "
                                 f"{type(exc).__name__}: {exc}") from exc
            faults = self.faults(cls) if self.check_builtin or origin != "built in" else []
            if not faults and getattr(cls, "name", None) != name:
                faults = [f"its class declares name {getattr(cls, 'name', None)!r}"]
            if faults:
                raise self.error(f"{self.kind} {name!r} ({origin}): " + "; ".join(faults))
            self._targets[name] = target = cls
        return target

    def classes_in(self, module: Any, base: type) -> list[type]:
        """The subclasses of ``base`` with a name that ``module`` defines or exports in
        ``__all__``; abstract ones too, so that one missing a method is reported, not
        skipped."""
        exported = set(getattr(module, "__all__", ()))
        return [obj for key, obj in vars(module).items()
                if inspect.isclass(obj) and issubclass(obj, base) and "name" in obj.__dict__
                and (obj.__module__ == module.__name__ or key in exported)]


def _names_class(target: str, cls: type) -> bool:
    """Whether an entry point's "module:Class" is ``cls`` (an installed plugin that a suite
    also names in its plugins list)."""
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr) is cls
    except Exception:  # noqa: BLE001 - a target that does not import is another class
        return False
