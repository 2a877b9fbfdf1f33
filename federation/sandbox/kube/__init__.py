"""A Kubernetes API server simulator that kubectl and both Python clients accept.

`KubeSimulator` serves many simulated clusters from one asyncio process, each on its own loopback port
with its own kubeconfig (bearer token, generated CA). See `federation.sandbox.kube.simulator`.
"""

from federation.sandbox.kube.cluster import SimCluster
from federation.sandbox.kube.simulator import KubeSimulator

__all__ = ["KubeSimulator", "SimCluster"]
