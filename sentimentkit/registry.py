"""One small registry for datasets, models and tasks, with errors that list what is known."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of things (functions, classes, specs). Names are unique; lookups fail loudly."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> module that registers it when imported

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            self.add(name, item)
            return item

        return add

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item

    def add_lazy(self, name: str, module: str) -> None:
        """Declare that importing `module` registers `name`: it is imported on the first `get(name)`.

        Keeps start-up fast: a command that needs one model does not import every model's module.
        """
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._lazy[name] = module

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            import importlib

            importlib.import_module(self._lazy[name])
            if name not in self._items:
                raise RuntimeError(f"importing {self._lazy[name]} did not register {self.kind} {name!r}")
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or 'none'}")
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def names(self) -> list[str]:
        return sorted(set(self._items) | set(self._lazy))
