"""Put ``.mobile`` on dask DataFrames without importing dask with this package.

``import mobilestatus_pandas`` stays light: when ``dask.dataframe`` is already imported,
:mod:`mobilestatus_pandas.dask` registers the accessor at once; otherwise a one-shot import
hook registers it right after ``dask.dataframe`` is first imported, whenever that is.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Final

logger = logging.getLogger(__name__)

WATCHED: Final = "dask.dataframe"
ACCESSOR_MODULE: Final = "mobilestatus_pandas.dask"


def _register() -> None:
    try:
        importlib.import_module(ACCESSOR_MODULE)
    except Exception:  # an old or broken dask must not break the user's import of it
        logger.warning("could not register .mobile on dask DataFrames", exc_info=True)


class _RegisteringLoader(importlib.abc.Loader):
    """Runs dask.dataframe's own loader, then registers the accessor."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module's spec names the real loader again, for anything that looks later.
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        _register()


class _DaskFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of ``dask.dataframe`` the first time."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != WATCHED:
            return None
        uninstall()
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


_finder = _DaskFinder()


def uninstall() -> None:
    """Remove the import hook (it removes itself once dask.dataframe is found)."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def install() -> None:
    """Register now if dask.dataframe is loaded, else when it is."""
    if WATCHED in sys.modules:
        _register()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
