"""Member-cluster clients: kubeconfigs read from Secrets, one cached client per member.

A client is keyed by the MemberCluster name and by a fingerprint (SHA-256) of its kubeconfig, so a
rotated Secret replaces the client and an unchanged one keeps it. The kubeconfig's content goes nowhere
but the client: errors name the Secret and the key, never the data, and the bearer token is registered
with the log redactor as soon as it is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from federation.backoff import RetryPolicy
from federation.clusters.kubeapi import KubeApi
from federation.logsetup import register_secret

log = logging.getLogger(__name__)


class KubeconfigError(ValueError):
    """The referenced Secret does not hold a usable kubeconfig (the message never contains its data)."""


def kubeconfig_from_secret(
    secret: dict[str, Any] | None, *, namespace: str, name: str, key: str
) -> dict[str, Any]:
    """Decode and sanity-check the kubeconfig in ``secret.data[key]``."""
    where = f"secret {namespace}/{name} key {key!r}"
    if secret is None:
        raise KubeconfigError(f"{where}: the secret does not exist")
    data = secret.get("data") or {}
    raw: str | bytes | None = data.get(key)
    if raw is None:
        text = (secret.get("stringData") or {}).get(key)
        if text is None:
            raise KubeconfigError(f"{where}: the secret has no such key")
        decoded = str(text)
    else:
        try:
            decoded = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise KubeconfigError(f"{where}: not valid base64-encoded UTF-8") from None
    try:
        config = yaml.safe_load(decoded)
    except yaml.YAMLError:
        raise KubeconfigError(f"{where}: not valid YAML") from None
    if not isinstance(config, dict) or not config.get("clusters") or not config.get("contexts"):
        raise KubeconfigError(f"{where}: not a kubeconfig (needs clusters and contexts)")
    for user in config.get("users") or []:
        for field in ("token", "password", "client-key-data"):
            value = ((user or {}).get("user") or {}).get(field)
            if isinstance(value, str):
                register_secret(value)
    return config


def fingerprint(config: dict[str, Any]) -> str:
    return hashlib.sha256(yaml.safe_dump(config, sort_keys=True).encode()).hexdigest()


@dataclass
class Member:
    name: str  # the MemberCluster name
    region: str
    api: KubeApi  # reconcile traffic
    fingerprint: str

    @property
    def probe_api(self) -> KubeApi:
        """Same connection pool, own request counters: health probes are not reconcile traffic. A probe
        is one observation and is never retried (the health sweeps' hysteresis does the repeating)."""
        if self._probe is None:
            self._probe = KubeApi(
                self.api.api_client,
                name=f"{self.name}-probe",
                timeout=self.api.timeout,
                retry=RetryPolicy(max_attempts=1),
            )
        return self._probe

    _probe: KubeApi | None = None


class MemberRegistry:
    """The clients of the member clusters, created on demand and replaced when the kubeconfig changes."""

    def __init__(
        self,
        write_gate: Callable[[], bool],
        *,
        timeout: float = 10.0,
        qps: float | None = None,
        burst: int | None = None,
        on_added: Callable[[Member], None] | None = None,
        on_removed: Callable[[Member], Any] | None = None,
    ) -> None:
        self.write_gate = write_gate
        self.timeout = timeout
        self.qps = qps  # each member's client-side pacing (None: the KubeApi defaults)
        self.burst = burst
        self.on_added = on_added
        self.on_removed = on_removed
        self._members: dict[str, Member] = {}

    def get(self, name: str) -> Member | None:
        return self._members.get(name)

    def names(self) -> list[str]:
        return sorted(self._members)

    def members(self) -> list[Member]:
        return [self._members[n] for n in sorted(self._members)]

    async def ensure(self, name: str, region: str, config: dict[str, Any]) -> Member:
        """The member's client, (re)built if the kubeconfig changed."""
        fp = fingerprint(config)
        current = self._members.get(name)
        if current is not None and current.fingerprint == fp:
            current.region = region
            return current
        api = await KubeApi.from_kubeconfig_dict(
            config,
            name=name,
            write_gate=self.write_gate,
            timeout=self.timeout,
            qps=self.qps,
            burst=self.burst,
        )
        if current is not None:
            log.info("member %s: kubeconfig changed, replacing its client", name)
            await self._drop(current)
        member = Member(name, region, api, fp)
        self._members[name] = member
        if self.on_added is not None:
            self.on_added(member)
        return member

    async def remove(self, name: str) -> None:
        member = self._members.get(name)
        if member is not None:
            await self._drop(member)

    async def _drop(self, member: Member) -> None:
        self._members.pop(member.name, None)
        if self.on_removed is not None:
            result = self.on_removed(member)
            if hasattr(result, "__await__"):
                await result
        await member.api.close()

    async def close(self) -> None:
        for member in list(self._members.values()):
            await self._drop(member)
