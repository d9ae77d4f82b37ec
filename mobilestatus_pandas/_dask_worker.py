"""The worker plugin that closes a Dask worker's clients when the worker closes.

A worker process builds its own :class:`~mobilestatus_pandas.MobileStatusClient` from the
job's configuration (:func:`mobilestatus_pandas.dask.client_for`). Closing that client is
what ends its calls in flight, writes answers held while Redis was away and closes the
SQLite connection; a worker process ends with ``os._exit``, where ``atexit`` does not run.
So :mod:`mobilestatus_pandas.dask` registers :class:`CloseClientsPlugin` with the cluster
when a job is made (``Client.register_plugin``, idempotent by name), and distributed calls
its ``teardown`` while the worker closes: cluster shutdown, ``retire_workers``, a nanny's
restart. ``distributed`` is imported here, so this module is loaded only where it is in use
(a client that made a job, and the workers that unpickle the plugin).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from distributed.diagnostics.plugin import WorkerPlugin

if TYPE_CHECKING:
    from distributed import Worker

#: The plugin's name on the scheduler: registering it again (every job does) changes nothing.
PLUGIN_NAME: Final = "mobilestatus-close-clients"

_attached_lock = threading.Lock()
#: Workers of this process the plugin is attached to: the built clients are the process's,
#: so with several workers in one process the last to close closes them.
_attached = 0


class CloseClientsPlugin(WorkerPlugin):
    """Close the clients built in a worker's process when the worker closes.

    ``close`` is called in a thread of its own (the worker's event loop keeps running) and
    bounds its own wait (:func:`mobilestatus_pandas.dask.close_built_clients`: each client's
    timeout and a margin), so a worker's shutdown is never held for longer.
    """

    idempotent = True  # registered again by every job: the first registration stays

    def __init__(self, close: Callable[[], object]) -> None:
        self.close = close  # pickled by reference: a module-level function of the package

    def setup(self, worker: Worker) -> None:
        """Count ``worker`` among this process's workers."""
        global _attached
        with _attached_lock:
            _attached += 1

    async def teardown(self, worker: Worker) -> None:
        """Close the built clients when the last worker of this process closes."""
        global _attached
        with _attached_lock:
            _attached = max(0, _attached - 1)
            last = _attached == 0
        if last:
            await asyncio.to_thread(self.close)


__all__ = ["PLUGIN_NAME", "CloseClientsPlugin"]
