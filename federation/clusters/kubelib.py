"""The parts of kubernetes_asyncio the Kubernetes adapter uses (``ApiClient``, ``Configuration`` and the
kubeconfig / in-cluster loaders), loaded without the generated typed APIs and models.

``import kubernetes_asyncio.client`` runs a package ``__init__`` that imports every generated model and
API class (about 850 modules, ~60 MiB of RSS), although the adapter sends and reads raw JSON. Here the
packages ``kubernetes_asyncio``, ``kubernetes_asyncio.client`` and ``kubernetes_asyncio.client.models``
are registered without running their ``__init__``, and only the submodules needed are imported. Any
other name looked up on those packages (``client.V1Pod``, ``client.CoreV1Api`` ...) runs the real
``__init__`` once on first use, so code that wants the typed client still gets it. When the package was
already imported in full, it is used as it is.

:func:`new_api_client` makes an ``ApiClient`` whose HTTP session does not consult the environment on
every request (see there).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

_LAZY = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")


def _register_lazy(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed", name=name)
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"loaded": False}

    def __getattr__(attr: str) -> Any:  # a module-level attribute hook (PEP 562)
        if attr.startswith("__"):
            raise AttributeError(attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")
        if not state["loaded"]:
            state["loaded"] = True
            del module.__dict__["__getattr__"]
            loader.exec_module(module)
            return getattr(module, attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = module
    if "." in name:
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)


if "kubernetes_asyncio.client" not in sys.modules:
    for _name in _LAZY:
        if _name not in sys.modules:
            _register_lazy(_name)
    _client = sys.modules["kubernetes_asyncio.client"]
    _client.__dict__.setdefault("rest", importlib.import_module("kubernetes_asyncio.client.rest"))
    _configuration: ModuleType = importlib.import_module("kubernetes_asyncio.client.configuration")
    _api_client: ModuleType = importlib.import_module("kubernetes_asyncio.client.api_client")
    # The loaders below do ``from kubernetes_asyncio.client import ApiClient, Configuration``.
    _client.__dict__.setdefault("Configuration", _configuration.Configuration)
    _client.__dict__.setdefault("ApiClient", _api_client.ApiClient)

from kubernetes_asyncio.client.api_client import ApiClient  # noqa: E402
from kubernetes_asyncio.client.configuration import Configuration  # noqa: E402
from kubernetes_asyncio.config.incluster_config import load_incluster_config  # noqa: E402
from kubernetes_asyncio.config.kube_config import (  # noqa: E402
    KubeConfigLoader,
    load_kube_config_from_dict,
)


def new_api_client(conf: Configuration) -> ApiClient:
    """An ``ApiClient`` for ``conf`` whose session looks the proxy up in the environment once, here.

    kubernetes_asyncio opens its aiohttp session with ``trust_env=True``, so aiohttp looks up ``.netrc``
    credentials and ``HTTPS_PROXY``/``NO_PROXY`` for every request, each in a worker thread: two thread
    hand-offs per request, which under load were a visible share of the controller's CPU and delayed
    every write. A cluster's URL does not change, so its proxy (and the proxy's credentials) are resolved
    from the environment once and the session stops looking. ``.netrc`` credentials are not sent to
    the API server (client-go does not read them either)."""
    if not conf.proxy and conf.host:
        with contextlib.suppress(LookupError, ValueError):
            proxy, auth = get_env_proxy_for_url(URL(conf.host))
            conf.proxy = str(proxy)
            if auth is not None:
                conf.proxy_headers = {**(conf.proxy_headers or {}), "Proxy-Authorization": auth.encode()}
    client = ApiClient(conf)
    session = getattr(getattr(client, "rest_client", None), "pool_manager", None)
    if getattr(session, "_trust_env", False):
        session._trust_env = False  # type: ignore[union-attr]
    return client


__all__ = [
    "ApiClient",
    "Configuration",
    "KubeConfigLoader",
    "load_incluster_config",
    "load_kube_config_from_dict",
    "new_api_client",
]
