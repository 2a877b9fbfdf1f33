"""Application configuration: flags override environment (``FEDCTL_*``) override an optional YAML file.

Secrets are :class:`pydantic.SecretStr` so that printing the settings (``fedctl config``) never
shows them; they are also registered with the log redactor when loaded.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import Field, NonNegativeInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from federation.gctune import DEFAULT_THRESHOLD
from federation.logsetup import register_secret

APP_NAME = "fedctl"

# The --config flag of the running command; kept out of os.environ so that it never leaks into
# child processes or into the next command run in the same interpreter (tests, embedding).
_config_file: ContextVar[Path | None] = ContextVar("fedctl_config_file", default=None)
DNS_WORKERS_MAX = 64  # dns_workers as a number; auto picks at most federation.dns.runtime.AUTO_WORKERS_MAX
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")  # the password of scheme://user:password@host


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'federation.db'}"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the optional config file named by ``FEDCTL_CONFIG`` (or ``--config``)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"config file {path}: expected a mapping at the top level")
            self._data = {str(k).replace("-", "_"): v for k, v in loaded.items()}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything the controller and the CLI can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FEDCTL_", extra="ignore")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL: a SQLite file by default, postgresql+psycopg://... in production",
    )
    sample_retention_days: int = Field(default=14, ge=1)

    # Host cluster (where FederatedApp / MemberCluster live).
    kubeconfig: Path | None = None
    kube_context: str | None = None
    namespace: str = "federation-system"
    # Client-side pacing of every Kubernetes API client, per cluster (host and each member).
    kube_qps: float = Field(default=50.0, gt=0, description="requests per second to each cluster")
    kube_burst: int = Field(default=100, ge=1, description="requests a cluster client may send at once")

    # Several replicas (fedctl run): apps are split into this many shards, each a Lease held by one
    # replica; 0 turns sharding off (one leader does everything, the other replicas wait).
    shards: int = Field(default=16, ge=0, le=1024, description="app shards shared by the replicas (0: off)")
    gc_threshold: tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt] = Field(
        default=DEFAULT_THRESHOLD,
        description="the garbage collector's thresholds in long-running processes (gc.set_threshold)",
    )
    log_writes: bool = Field(
        default=False,
        description="log each write an app reconcile makes, with replica, app and shard (federation.writes)",
    )

    # Alibaba Cloud.
    alibaba_access_key_id: str | None = None
    alibaba_access_key_secret: SecretStr | None = None
    alibaba_endpoint: str | None = Field(
        default=None, description="host:port that replaces every product endpoint (the sandbox emulator)"
    )
    alibaba_max_workers: int = Field(default=8, ge=1, le=64)
    alibaba_rate_limits: dict[str, tuple[float, int]] = Field(
        default_factory=dict,
        description="client-side pacing per product or Product.Action: [requests per second, burst]",
    )
    network_check_interval: float = Field(
        default=60.0,
        ge=5.0,
        description="seconds between CEN checks of the fleet (read calls only; 0 calls without cenId)",
    )

    # DNS.
    dns_provider: Literal["embedded", "alidns"] = "embedded"
    dns_listen: str = "127.0.0.1:5353"
    dns_workers: int | Literal["auto"] = Field(
        default="auto",
        description="Extra processes answering the embedded server's UDP queries on dns_listen, 0-64, or "
        "auto: one per usable CPU but the server's own (CPU affinity and cgroup CPU quota), at most 8",
    )
    dns_cidrs: Path | None = Field(default=None, description="CIDR -> line overlay, YAML {line: [cidr]}")
    dns_latency: Path | None = Field(
        default=None,
        description="latency overrides, YAML {lines: {line: {region: ms}}, regions: {region: {region: ms}}}",
    )

    # Health sweeps.
    health_probe_networks: list[str] = Field(
        default_factory=lambda: ["0.0.0.0/0", "::/0"],
        description="networks the VIP probes may dial (the sandbox: 127.0.0.0/8)",
    )
    health_latency_source: str = Field(
        default="controller",
        description="name of the RTT samples the sweeps store; a line code makes DNS steering use them",
    )

    # Web (dashboard, JSON API, metrics).
    web_listen: str = Field(
        default="127.0.0.1:8080",
        description="HOST:PORT of the dashboard, JSON API and /metrics (port 0: any)",
    )
    web_token: SecretStr | None = Field(
        default=None, description="bearer token required for everything but /healthz and /readyz"
    )

    @field_validator("dns_workers", mode="before")
    @classmethod
    def _dns_workers(cls, value: Any) -> int | str:
        # one message naming both forms, not pydantic's one error per member of the union
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        number = value.strip() if isinstance(value, str) else value
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= DNS_WORKERS_MAX:
            raise ValueError(
                f"expected auto or a number of processes from 0 to {DNS_WORKERS_MAX}, got {value!r}"
            )
        return number

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        flag = _config_file.get()
        env = os.environ.get("FEDCTL_CONFIG")
        path = flag if flag is not None else (Path(env) if env else None)
        return (init_settings, env_settings, _YamlSource(settings_cls, path), file_secret_settings)

    def model_post_init(self, __context: Any) -> None:
        if self.alibaba_access_key_secret is not None:
            register_secret(self.alibaba_access_key_secret.get_secret_value())
        if self.web_token is not None and self.web_token.get_secret_value():
            register_secret(self.web_token.get_secret_value())
        if m := _DSN_PASSWORD.search(self.database_url):
            register_secret(m.group(0)[len(m.group(1)) : -1])

    def safe_dump(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked."""
        out = self.model_dump(mode="json")
        for name, value in self:
            if isinstance(value, SecretStr):
                out[name] = "***" if value.get_secret_value() else ""
        out["database_url"] = _DSN_PASSWORD.sub(r"\1***@", self.database_url)  # a DSN may hold a password
        return out


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are flag values (``None`` means 'not given'), ``config_file``
    the ``--config`` flag (it beats ``FEDCTL_CONFIG``)."""
    token = _config_file.set(config_file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_file.reset(token)
