"""The sandbox's one network rule and its address plan: nothing it runs dials outside 127.0.0.0/8.

Every address the sandbox's data plane answers on is a distinct loopback address (Linux routes all of
127.0.0.0/8 to ``lo``, so binding one needs no setup): simulated nodes in one /16, SLB addresses in
another, the simulated cloud controller's LoadBalancer Service addresses in a third. The second octet
of each block, and where in it the clusters or regions start, are chosen at random per process so
that sandboxes and test runs sharing a machine rarely meet; a listener port that still cannot be
bound is mapped (:class:`PortPolicy`).
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import dataclass

NODE_BLOCKS = range(128, 192)  # second octet of the simulated nodes' block
SLB_BLOCKS = range(64, 128)  # second octet of the SLB addresses' block
CCM_BLOCKS = range(192, 255)  # second octet of the simulated cloud controller's LoadBalancer addresses


class NonLoopbackTarget(ValueError):
    """A probe, forwarder or registration was given an address outside 127.0.0.0/8."""


def require_loopback(host: str, what: str) -> str:
    """``host`` when it is an IPv4 loopback address; raises :class:`NonLoopbackTarget` naming ``what``."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise NonLoopbackTarget(
            f"{what}: {host!r} is not an IP address (the sandbox dials 127.0.0.0/8 only)"
        ) from None
    if ip.version != 4 or not ip.is_loopback:
        raise NonLoopbackTarget(f"{what}: {host} is outside 127.0.0.0/8; the sandbox never dials it")
    return host


def random_block(blocks: range, rng: random.Random | None = None) -> int:
    return (rng or random.SystemRandom()).choice(blocks)


@dataclass(frozen=True)
class PortPolicy:
    """Which port a listener is really bound to.

    A port below ``privileged_below`` is mapped when ``map_privileged`` says so (default: when the
    process is not root, which may not bind it): to ``port + offset``, or with no offset to an
    ephemeral port. Any port that turns out to be taken is mapped to an ephemeral one as well; the
    mapping is recorded where the user looks (``sandbox.json``).
    """

    privileged_below: int = 1024
    map_privileged: bool | None = None
    offset: int | None = None

    def wanted(self, port: int) -> int:
        """The port to try first for listener ``port`` (0: an ephemeral one)."""
        mapped = self.map_privileged if self.map_privileged is not None else _not_root()
        if port < self.privileged_below and mapped:
            if self.offset is None:
                return 0
            return port + self.offset if 0 < port + self.offset < 65536 else 0
        return port


def _not_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is None or geteuid() != 0
