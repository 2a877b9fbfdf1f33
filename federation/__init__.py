"""Multi-region federation controller for Kubernetes with smart-DNS traffic steering."""

__version__ = "0.1.0"
