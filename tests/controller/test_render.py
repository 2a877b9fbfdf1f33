"""What the controller writes into members, and when it decides a live object already matches."""

from __future__ import annotations

import copy

from federation.api.federatedapp import FederatedApp
from federation.clusters.render import (
    merge_for_update,
    needs_update,
    ownership,
    render_deployment,
    render_service,
)
from tests.controller.conftest import make_app


def _app() -> FederatedApp:
    body = make_app()
    body["metadata"]["uid"] = "uid-1"
    body["spec"]["overrides"] = [
        {
            "region": "cn-beijing",
            "image": "mirror/nginx:1.27",
            "env": [{"name": "REGION", "value": "bj"}],
            "resources": {"limits": {"cpu": "500m"}},
        }
    ]
    return FederatedApp.model_validate(body)


def _server_filled(obj: dict) -> dict:
    live = copy.deepcopy(obj)
    live["metadata"].update(
        uid="x", resourceVersion="7", generation=2, creationTimestamp="2026-01-01T00:00:00Z"
    )
    live["spec"]["progressDeadlineSeconds"] = 600
    ct = live["spec"]["template"]["spec"]["containers"][0]
    ct["imagePullPolicy"] = "IfNotPresent"
    ct["resources"] = {"limits": {"cpu": "0.5"}}  # canonicalised quantity
    live["status"] = {"readyReplicas": 2}
    return live


def test_overrides_apply_to_that_region_only() -> None:
    app = _app()
    bj = render_deployment(app, "cn-beijing", 3)["spec"]["template"]["spec"]["containers"][0]
    hz = render_deployment(app, "cn-hangzhou", 3)["spec"]["template"]["spec"]["containers"][0]
    assert bj["image"] == "mirror/nginx:1.27"
    assert bj["env"] == [{"name": "REGION", "value": "bj"}]
    assert bj["resources"] == {"limits": {"cpu": "500m"}}
    assert hz == {"name": "web", "image": "nginx:1.27"}


def test_server_filled_fields_do_not_cause_a_write_but_drift_does() -> None:
    app = _app()
    desired = render_deployment(app, "cn-beijing", 3)
    live = _server_filled(desired)
    assert not needs_update(desired, live)
    drifted = copy.deepcopy(live)
    drifted["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:latest"
    assert needs_update(desired, drifted)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    assert needs_update(desired, scaled)
    assert needs_update(render_deployment(app, "cn-beijing", 4), live)


def test_service_update_keeps_allocated_ports_and_foreign_labels() -> None:
    app = _app()
    desired = render_service(app, "cn-hangzhou")
    live = copy.deepcopy(desired)
    live["metadata"]["labels"]["team"] = "ops"
    live["spec"]["clusterIP"] = "10.0.0.7"
    live["spec"]["ports"][0]["nodePort"] = 31000
    assert not needs_update(desired, live)
    body = merge_for_update(desired, live)
    assert body["spec"]["clusterIP"] == "10.0.0.7"
    assert body["spec"]["ports"][0]["nodePort"] == 31000
    assert body["metadata"]["labels"]["team"] == "ops"


def test_ownership_is_decided_by_our_labels() -> None:
    app = _app()
    ours = render_deployment(app, "cn-hangzhou", 1)
    assert ownership(ours, app) == "ours"
    assert ownership(None, app) == "absent"
    foreign = copy.deepcopy(ours)
    foreign["metadata"]["labels"] = {"app": "web"}
    assert ownership(foreign, app) == "foreign"
