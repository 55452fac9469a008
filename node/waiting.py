"""Waiting with a time limit without ever swallowing a cancellation.

On Python 3.11, ``async with asyncio.timeout(t)`` under ``suppress(TimeoutError)`` can
turn a cancellation that races the deadline into a TimeoutError, which the suppress
then swallows: the task goes on as if never cancelled, and whoever awaits it after
cancelling waits for ever. ``asyncio.wait`` has no such race.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set, at most ``timeout`` seconds; whether it was set."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)
