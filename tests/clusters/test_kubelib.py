"""The Kubernetes adapter loads kubernetes_asyncio's client and kubeconfig loader without the generated
typed APIs and models, and the typed client still works for code in the same process that asks for it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from federation.clusters.kubelib import Configuration, new_api_client


def _run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_the_adapter_loads_no_generated_model_or_api() -> None:
    got = _run(
        "import sys, json\n"
        "import federation.clusters.kubeapi\n"
        "mods = [m for m in sys.modules if m.startswith('kubernetes_asyncio.client.')]\n"
        "print(json.dumps({'models': [m for m in mods if '.models.' in m],"
        " 'apis': [m for m in mods if '.client.api.' in m]}))\n"
    )
    assert got == {"models": [], "apis": []}


def test_kubeconfig_loads_into_the_adapter_and_the_typed_client_stays_available() -> None:
    got = _run(
        "import asyncio, json\n"
        "from federation.clusters.kubelib import ApiClient, Configuration, load_kube_config_from_dict\n"
        "kc = {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'c',\n"
        "      'clusters': [{'name': 'k', 'cluster': {'server': 'https://127.0.0.1:6443'}}],\n"
        "      'users': [{'name': 'u', 'user': {'token': 'abc'}}],\n"
        "      'contexts': [{'name': 'c', 'context': {'cluster': 'k', 'user': 'u'}}]}\n"
        "conf = Configuration()\n"
        "asyncio.run(load_kube_config_from_dict(kc, client_configuration=conf))\n"
        "from kubernetes_asyncio import client, watch\n"
        "from kubernetes_asyncio.client.rest import ApiException\n"
        "pod = client.V1Pod(metadata=client.V1ObjectMeta(name='p'))\n"
        "print(json.dumps({'host': conf.host, 'same_client': client.ApiClient is ApiClient,\n"
        "  'pod': pod.metadata.name, 'api': client.CoreV1Api.__name__,\n"
        "  'model_via_models': client.models.V1Pod is client.V1Pod, 'watch': watch.Watch.__name__}))\n"
    )
    assert got == {
        "host": "https://127.0.0.1:6443",
        "same_client": True,
        "pod": "p",
        "api": "CoreV1Api",
        "model_via_models": True,
        "watch": "Watch",
    }


@pytest.mark.parametrize(
    ("no_proxy", "expected"), [("", "http://127.0.0.1:3128"), ("127.0.0.1,localhost", None)]
)
async def test_the_proxy_comes_from_the_environment_once_per_client(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, expected: str | None
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://someone:pw@127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.setenv("no_proxy", no_proxy)
    conf = Configuration()
    conf.host = "https://127.0.0.1:6443"
    client = new_api_client(conf)
    try:
        assert conf.proxy == expected
        if expected:
            assert conf.proxy_headers == {"Proxy-Authorization": "Basic " + "c29tZW9uZTpwdw=="}
        assert client.rest_client.pool_manager.trust_env is False  # no per-request lookups
    finally:
        await client.close()
