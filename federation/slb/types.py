"""The plain values of a classic SLB's listeners and backends, shared by the SLB adapter
(:mod:`federation.cloud.alibaba.slb`, which sends them) and the pure plan (:mod:`federation.slb.plan`,
which decides them): no I/O, no SDK."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HealthCheck:
    """Listener health check. ``type`` tcp|http applies to TCP listeners; HTTP(S) always check over HTTP."""

    enabled: bool = True
    type: str = "tcp"
    uri: str | None = None
    domain: str | None = None
    connect_port: int | None = None
    interval_seconds: int = 2
    timeout_seconds: int = 5
    healthy_threshold: int = 3
    unhealthy_threshold: int = 3
    http_code: str | None = None  # "http_2xx,http_3xx"


@dataclass(frozen=True)
class ListenerSpec:
    protocol: str  # tcp | udp | http | https
    listener_port: int
    backend_port: int
    bandwidth: int = -1  # -1: no limit
    scheduler: str = "wrr"
    health_check: HealthCheck = field(default_factory=HealthCheck)
    certificate_id: str | None = None  # HTTPS only


@dataclass(frozen=True)
class BackendServer:
    server_id: str
    weight: int = 100
    type: str = "ecs"
    description: str | None = None

    def to_api(self) -> dict[str, str]:
        d = {"ServerId": self.server_id, "Weight": str(self.weight), "Type": self.type}
        if self.description:
            d["Description"] = self.description
        return d
