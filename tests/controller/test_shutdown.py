"""Bounded shutdown: a task that will not stop is given up on after the grace period, loudly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from federation.controller.shutdown import stop_task


async def test_a_cooperative_task_stops_at_once() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    assert await stop_task(task, what="sleeper", grace=5) is True
    assert task.cancelled()


async def test_a_stuck_task_is_reported_with_its_stack(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # a misbehaving remote end, modelled: it ignores the cancellation

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="federation.controller.shutdown"):
        assert await stop_task(task, what="the stubborn one", grace=0.2) is False
    assert "the stubborn one did not stop within" in caplog.text
    assert "in stubborn" in caplog.text  # the stack shows where it is stuck
    assert "asyncio.sleep(3600)" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)


async def test_a_lost_cancellation_is_repeated_until_the_task_ends() -> None:
    swallowed = 0

    async def loses_one_cancel() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 0:  # as a wait_for racing its inner call can on Python 3.11
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(loses_one_cancel())
    await asyncio.sleep(0)
    assert await stop_task(task, what="forgetful", grace=5) is True
    assert task.cancelled()
    assert swallowed == 1
