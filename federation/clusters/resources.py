"""The REST resources of our own API on the host cluster, and the selector of what we own in members.

They live beside the Kubernetes adapter (not in the controller) so that propagation in
``federation.clusters`` and the controller both import them without a cycle.
"""

from __future__ import annotations

from federation.api import constants as c
from federation.clusters.kubeapi import Resource

FEDERATEDAPPS = Resource(c.GROUP, c.VERSION, c.FEDERATEDAPP_PLURAL)
MEMBERCLUSTERS = Resource(c.GROUP, c.VERSION, c.MEMBERCLUSTER_PLURAL, namespaced=False)
OWNED_SELECTOR = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
