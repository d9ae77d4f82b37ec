"""A real network between clients and a server, for tests: a delaying TCP proxy on loopback.

``DelayProxy(port, delay_seconds=0.04)`` listens on a free loopback port and forwards every
connection to ``127.0.0.1:port``, holding each chunk ``delay_seconds`` (plus a seeded random
jitter up to ``jitter_seconds``) in each direction, in order, as a server in another zone
would: a Redis 40 ms away answers a command no sooner than 80 ms after it was sent. It runs
an asyncio loop in a thread of its own, so processes started by a test connect to it too.

A slow server: ``slow_pattern=b":written:", slow_seconds=0.03`` holds the commands that
name the pattern (there, the store's ledger writes) 30 ms longer on their way.

Faults: ``drop_connections()`` closes every open connection at once (a network partition,
a load balancer's idle cut), and ``dropping = True`` accepts new connections and closes them
at once until it is set back.

    with DelayProxy(redis_server.port, delay_seconds=0.04) as proxy:
        client = msp.MobileStatusClient(cache=proxy.url, ...)
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Final

CHUNK_BYTES: Final = 65536


class DelayProxy:
    """A TCP proxy on loopback that delays each direction (see the module docstring)."""

    def __init__(
        self,
        target_port: int,
        *,
        delay_seconds: float = 0.04,
        jitter_seconds: float = 0.0,
        seed: int = 0,
        target_host: str = "127.0.0.1",
        slow_pattern: bytes | None = None,
        slow_seconds: float = 0.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.delay_seconds = delay_seconds
        self.jitter_seconds = jitter_seconds
        #: Chunks towards the server that contain ``slow_pattern`` are held ``slow_seconds``
        #: longer (``b":written:"``: the store's ledger writes, as a Redis slow to write).
        self.slow_pattern = slow_pattern
        self.slow_seconds = slow_seconds
        self.dropping = False
        self.port = 0
        self.connections = 0  #: connections accepted so far
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """A Redis URL through the proxy (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> DelayProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def _delay(self) -> float:
        return self.delay_seconds + self._rng.uniform(0.0, self.jitter_seconds)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.dropping:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._open.update((client_w, server_w))
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, client_w, upstream=True),
                self._pipe(server_r, client_w, server_w),
            )
        except asyncio.CancelledError:  # the proxy closes: end quietly
            pass
        finally:
            for writer in (client_w, server_w):
                self._open.discard(writer)
                writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        other: asyncio.StreamWriter,
        *,
        upstream: bool = False,
    ) -> None:
        """Copy ``reader`` to ``writer``, each chunk delivered ``_delay()`` after it was
        read and never before the chunk read before it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        last_due = 0.0
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                delay = self._delay()
                if upstream and self.slow_pattern is not None and self.slow_pattern in data:
                    delay += self.slow_seconds
                last_due = max(last_due, loop.time() + delay)
                await queue.put((last_due, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
            other.close()  # one side ended: end the other (Redis clients reconnect)
            writer.close()

    def drop_connections(self) -> int:
        """Close every open connection now; returns how many there were (both sides)."""

        async def drop() -> int:
            writers = list(self._open)
            for writer in writers:
                transport = writer.transport
                transport.abort()
            return len(writers)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=10)

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
