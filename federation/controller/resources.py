"""The REST resources of our own API on the host cluster (defined in :mod:`federation.clusters.resources`;
re-exported here for the controller's modules and existing callers)."""

from __future__ import annotations

from federation.clusters.resources import FEDERATEDAPPS, MEMBERCLUSTERS, OWNED_SELECTOR

__all__ = ["FEDERATEDAPPS", "MEMBERCLUSTERS", "OWNED_SELECTOR"]
