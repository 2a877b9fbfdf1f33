"""Running `fedctl` as an operator does: a subprocess of this interpreter, its exit code and output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping


async def fedctl(*args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "federation.cli",
        *args,
        env=dict(env) if env is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()
