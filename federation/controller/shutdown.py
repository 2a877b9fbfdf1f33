"""Bounded shutdown: stop a long-running task within a grace period, and say what was stuck if not.

A controller asked to stop (SIGTERM in a pod, Ctrl-C in the sandbox) must exit within its grace
period even when a remote end misbehaves (a half-open connection, a server that never finishes a
TLS close). Like controller-runtime's graceful-shutdown timeout, we cancel, wait a bounded time, and
then give up loudly: the stacks of the tasks still pending go to the log, so a hang is diagnosable
rather than silent.
"""

from __future__ import annotations

import asyncio
import io
import logging

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0
RECANCEL = 0.5  # seconds between repeated cancellations of a task that has not ended yet


async def stop_task(
    task: asyncio.Task[object] | asyncio.Task[None], *, what: str, grace: float = SHUTDOWN_GRACE
) -> bool:
    """Cancel ``task`` and wait at most ``grace`` seconds; False (and an error log) if it did not end.

    The cancellation is repeated every ``RECANCEL`` seconds until the task ends: a cancellation can be
    lost on its way down (on Python 3.11 an ``asyncio.wait_for`` whose inner call completes in the
    same loop step returns the result and drops the cancel, bpo-42130; library code may swallow it
    too), and one lost cancel must not keep a stopped controller renewing its Lease."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    done: set[asyncio.Task[object] | asyncio.Task[None]] = set()
    while not done and loop.time() < deadline:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=min(RECANCEL, max(0.0, deadline - loop.time())))
    if done:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s ended with an error while stopping: %s", what, task.exception())
        return True
    out = io.StringIO()
    for pending in asyncio.all_tasks():
        if pending is not asyncio.current_task() and not pending.done():
            pending.print_stack(limit=8, file=out)
    log.error(
        "%s did not stop within %.0fs; giving up on it. Pending tasks:\n%s", what, grace, out.getvalue()
    )
    return False
