"""Member news: the changes of an app's objects in every member within a short window make one
reconcile, and an app backing off after a failure keeps its scheduled retry."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration

from federation.api import constants as c
from federation.clusters.kubeapi import KubeApi
from federation.controller.manager import MEMBER_NEWS_WINDOW, Controller, ControllerConfig


def _deployment(ready: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {c.LABEL_APP: "web", c.LABEL_APP_NAMESPACE: "shop"},
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": ready},
    }


async def test_the_news_of_ten_members_makes_one_reconcile_after_a_short_window() -> None:
    host = KubeApi(ApiClient(Configuration()), name="host")  # never dialled: nothing here runs
    try:
        ctrl = Controller(host, ControllerConfig(identity="t"))
        queue = ctrl.app_queue
        for _ in range(10):  # a rollout's progress in ten regions
            ctrl._on_owned("shop/web", _deployment(0), _deployment(2))
        assert len(queue) == 0  # not yet: the other members' news may follow
        await asyncio.sleep(MEMBER_NEWS_WINDOW + 0.1)
        assert len(queue) == 1
        assert await queue.get() == "shop/web"
        queue.done("shop/web")

        queue.add_rate_limited("shop/web", at_least=30.0)  # failing: its retry is 30 s away
        ctrl._on_owned("shop/web", _deployment(0), _deployment(1))
        await asyncio.sleep(MEMBER_NEWS_WINDOW + 0.1)
        assert len(queue) == 0  # the news does not pull the retry forward
        await queue.shutdown()
    finally:
        await host.close()
