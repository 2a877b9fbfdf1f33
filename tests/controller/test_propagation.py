"""Create, update and delete a FederatedApp against simulated clusters (real HTTP on loopback)."""

from __future__ import annotations

from federation.api import constants as c
from federation.clusters.kubeapi import DEPLOYMENTS
from tests.controller.conftest import REGIONS, World, fast_config, make_app
from tests.waiting import wait_for


async def test_create_spreads_replicas_and_reports_status(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=7))
    await world.wait_ready()

    counts = await world.replicas()
    assert sorted(v or 0 for v in counts.values()) == [2, 2, 3]
    for region in REGIONS:
        dep = await world.deployment(region)
        assert dep is not None
        labels = dep["metadata"]["labels"]
        assert labels[c.LABEL_APP] == "web"
        assert labels[c.LABEL_APP_NAMESPACE] == "shop"
        assert labels[c.LABEL_MANAGED_BY] == c.MANAGED_BY
        assert labels[c.LABEL_APP_UID] == (await world.app())["metadata"]["uid"]  # type: ignore[index]
        assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        svc = await world.service(region)
        assert svc is not None
        assert svc["spec"]["type"] == "NodePort"
        assert svc["spec"]["ports"][0]["targetPort"] == 8080
        assert svc["spec"]["selector"] == {c.LABEL_APP: "web"}

    app = await world.app()
    assert app is not None
    assert c.FINALIZER in app["metadata"]["finalizers"]
    st = app["status"]
    assert st["replicas"] == 7
    assert st["readyReplicas"] == 7
    assert st["regionsReady"] == "3/3"
    by_region = {r["region"]: r for r in st["regions"]}
    assert {r: by_region[r]["desiredReplicas"] for r in REGIONS} == counts
    assert all(by_region[r]["reachable"] is True and by_region[r]["health"] == "Healthy" for r in REGIONS)
    assert await world.condition("Degraded") == ("False", "AsExpected")
    placed = await world.events("ReplicasPlaced")
    assert placed
    assert "cn-hangzhou" in placed[0]["message"]


async def test_updates_image_replicas_overrides_and_regions(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app(replicas=6))
    await world.wait_replicas({"cn-hangzhou": 2, "cn-beijing": 2, "eu-central-1": 2})

    await world.patch_spec(
        "web",
        {
            "replicas": 9,
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}},
            "overrides": [{"region": "eu-central-1", "image": "registry.eu.example.com/nginx:1.28"}],
        },
    )
    await world.wait_replicas({"cn-hangzhou": 3, "cn-beijing": 3, "eu-central-1": 3})
    await world.wait_ready()
    images = {
        r: (await world.deployment(r))["spec"]["template"]["spec"]["containers"][0]["image"]  # type: ignore[index]
        for r in REGIONS
    }
    assert images == {
        "cn-hangzhou": "nginx:1.28",
        "cn-beijing": "nginx:1.28",
        "eu-central-1": "registry.eu.example.com/nginx:1.28",
    }

    # drop a region: its objects go, the others take its replicas
    await world.patch_spec(
        "web",
        {
            "overrides": None,
            "placement": {"strategy": "Spread", "regions": [{"name": "cn-hangzhou"}, {"name": "cn-beijing"}]},
        },
    )

    async def two_regions() -> bool:
        got = await world.replicas()
        return got["eu-central-1"] is None and {got["cn-hangzhou"], got["cn-beijing"]} == {4, 5}

    await wait_for(two_regions, 10, "9 replicas over two regions")
    assert await world.service("eu-central-1") is None
    await world.wait_ready()

    # add it back, weighted this time
    await world.patch_spec(
        "web",
        {
            "placement": {
                "strategy": "Weighted",
                "regions": [
                    {"name": "cn-hangzhou", "weight": 1},
                    {"name": "cn-beijing", "weight": 1},
                    {"name": "eu-central-1", "weight": 7},
                ],
            }
        },
    )
    await world.wait_replicas({"cn-hangzhou": 1, "cn-beijing": 1, "eu-central-1": 7})
    await world.wait_ready()


async def test_delete_removes_everything_then_the_finalizer(world: World) -> None:
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app())
    await world.wait_ready()
    from federation.controller.resources import FEDERATEDAPPS

    await world.host.delete(FEDERATEDAPPS, "web", "shop")
    await wait_for(lambda: _gone(world), 10, "app deleted")
    assert await world.replicas() == dict.fromkeys(REGIONS)
    for region in REGIONS:
        assert await world.service(region) is None


async def _gone(world: World) -> bool:
    return await world.app() is None


async def test_a_name_clash_is_reported_and_the_foreign_object_untouched(world: World) -> None:
    await world.sb.ensure_namespace("shop", world.members["cn-beijing"])
    foreign = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "other"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"x": "y"}},
            "template": {
                "metadata": {"labels": {"x": "y"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    created = await world.members["cn-beijing"].create(DEPLOYMENTS, foreign, "shop")
    await world.sb.start_controller(fast_config())
    await world.create_app(make_app())

    await wait_for(lambda: _degraded_by_clash(world), 10, "NameClash")
    dep = await world.deployment("cn-beijing")
    assert dep is not None
    # the simulated deployment controller moves status along; spec and labels are the owner's alone
    assert dep["metadata"]["generation"] == created["metadata"]["generation"]
    assert dep["metadata"]["labels"] == {"team": "other"}
    assert dep["spec"] == created["spec"]
    assert await world.events("NameClash")
    # the other regions still get the app
    assert (await world.deployment("cn-hangzhou")) is not None


async def _degraded_by_clash(world: World) -> bool:
    return await world.condition("Degraded") == ("True", "NameClash")
