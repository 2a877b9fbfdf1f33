"""Fixtures of the DNS tests: the shipped catalogue, a small classifier, specs and regions."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from federation.api.federatedapp import DnsSpec
from federation.dns.lines import LineCatalogue, LineClassifier, default_catalogue
from federation.dns.server import DnsServer
from federation.store import migrate
from federation.store.db import Database

# Client subnets of the test classifier (documentation and benchmark ranges, RFC 5737 / RFC 2544).
SUBNETS = {
    "cn_telecom_zhejiang": "198.51.100.0/24",
    "unicom": "203.0.113.0/24",
    "os_namerica_us": "192.0.2.0/24",
    "os_euro_de": "198.18.0.0/16",
}


@pytest.fixture(scope="session")
def catalogue() -> LineCatalogue:
    return default_catalogue()


@pytest.fixture(scope="session")
def classifier(catalogue: LineCatalogue) -> LineClassifier:
    return LineClassifier(catalogue, [(ipaddress.ip_network(n), line) for line, n in SUBNETS.items()])


def spec(policy: str = "Latency", **kw: object) -> DnsSpec:
    return DnsSpec.model_validate(
        {"zone": "example.com", "hostname": "www.example.com", "ttl": 60, "policy": policy, **kw}
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite store of the test's own."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
async def dns_server(classifier: LineClassifier) -> AsyncIterator[DnsServer]:
    server = DnsServer(classifier)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()
