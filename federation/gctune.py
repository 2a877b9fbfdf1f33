"""The cyclic garbage collector's settings for the long-running processes (``fedctl run``, the
simulator, the sandbox).

Their heaps are mostly caches of decoded JSON (every owned Deployment and Service of every member, the
simulator's stored objects), which reference counting frees on its own: none of it is cyclic garbage.
CPython's default thresholds (700, 10, 10) still walk all of it in every full collection; measured in
``fedctl bench controller`` at 1,000 apps x 10 regions, 32-34 full collections a round, each pausing the
event loop (and the DNS answering threads, which need the GIL) for up to 0.19 s, 6-7 s of a 29 s CPU
budget. The pause grows with the caches, so at 10,000 apps it would be seconds.

So, as large Python services commonly do: what exists once startup is done (modules, classes,
settings) is frozen out of the collector's sight (``gc.freeze``), and collections run far less often
(``DEFAULT_THRESHOLD``). Cycles are still collected; they just wait longer, and the processes make few
(asyncio's exception tracebacks, mostly). The threshold is a setting (``FEDCTL_GC_THRESHOLD``).
"""

from __future__ import annotations

import gc

# allocations before a young collection; young collections before a middle one; middle before a full
DEFAULT_THRESHOLD = (50_000, 20, 100)


def tune(threshold: tuple[int, int, int] = DEFAULT_THRESHOLD) -> None:
    """Freeze what is alive now and set the thresholds (call once, after startup's imports)."""
    gc.collect()  # startup's own garbage goes now, not into the permanent generation
    gc.freeze()
    gc.set_threshold(*threshold)
