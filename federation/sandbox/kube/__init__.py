"""A Kubernetes API server simulator that kubectl and both Python clients accept."""
