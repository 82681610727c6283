"""A TCP port in front of a Unix socket, so a container on the host network reaches the
test's embedded PostgreSQL (which listens on a Unix socket only, in a folder the container's
non-root user may not enter). Bytes are copied both ways; nothing is interpreted."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with suppress(Exception):
            writer.close()


@contextmanager
def tcp_bridge(unix_socket: str) -> Iterator[int]:
    """Listen on 127.0.0.1 (a free port, yielded) and forward each connection to the socket."""
    loop = asyncio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    open_writers: set[asyncio.StreamWriter] = set()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_unix_connection(unix_socket)
        except OSError:
            writer.close()
            return
        open_writers.add(upstream_writer)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    async def close() -> None:
        server.close()
        for writer in open_writers:
            writer.close()
        await asyncio.sleep(0.1)  # the pipes see their ends closed and finish
        await server.wait_closed()

    server = loop.run_until_complete(asyncio.start_server(connect, sock=listener))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
