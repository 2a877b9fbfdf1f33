"""Watch bookmarks never run ahead of the events: a client that resumes from the last version it saw
(an informer, after the server ended its watch at ``timeoutSeconds``) misses nothing."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import aiohttp

from federation.sandbox.kube import KubeSimulator


async def test_an_informer_resuming_from_bookmarks_misses_no_event() -> None:
    # bookmarks every 5 ms and watches that end every second, while objects are written every few ms:
    # the server's bookmark timer and its deadline keep firing in the same loop turn as a write
    sim = KubeSimulator(rollout_delay=0.2, bookmark_interval=0.005)
    try:
        cluster = await sim.add_cluster("cn-hangzhou", nodes=1)
        ctx = ssl.create_default_context(cadata=sim.cert.ca_pem.decode()) if sim.cert else None
        headers = {"Authorization": f"Bearer {cluster.token}"}
        base = cluster.url + "/api/v1/namespaces/default/configmaps"
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx if ctx else False), headers=headers
        ) as session:
            async with session.get(base) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
            created: list[str] = []
            seen: set[str] = set()
            regressions: list[str] = []
            writing = True

            async def write() -> None:
                i = 0
                while writing:
                    name = f"cm-{i:05d}"
                    async with session.post(base, json={"metadata": {"name": name}}) as r:
                        assert r.status == 201, await r.text()
                    created.append(name)
                    i += 1
                    await asyncio.sleep(0.002 * (i % 3))

            async def watch_once(since: str) -> str:
                last = since
                bookmarked = 0
                query = f"?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion={since}"
                async with session.get(base + query) as r:
                    async for line in r.content:
                        event: dict[str, Any] = json.loads(line)
                        ev_rv = int(event["object"]["metadata"]["resourceVersion"])
                        if event["type"] == "BOOKMARK":
                            bookmarked = max(bookmarked, ev_rv)
                        else:
                            if ev_rv <= bookmarked:
                                regressions.append(f"{event['type']} {ev_rv} after bookmark {bookmarked}")
                            seen.add(event["object"]["metadata"]["name"])
                        last = str(ev_rv)
                return last

            writer = asyncio.create_task(write())
            for _ in range(4):  # four watches, each resumed where the last one ended
                rv = await watch_once(rv)
            writing = False
            await writer
            await watch_once(rv)  # the tail: everything written after the fourth watch ended
    finally:
        await sim.stop()
    assert len(created) > 200
    assert regressions == []
    assert [n for n in created if n not in seen] == []
