"""Lazy re-exports for the sub-packages' `__init__`: `newswatch.store.connect` is
`newswatch.store.warehouse.connect`, imported on first use. A layer's API is one import away
without importing the whole layer: `newswatch match` never loads DuckDB because the match
layer sits in the same package tree as the store."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package` whose attribute `name` is the same name in
    its submodule `names[name]`."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
