"""Dashboard, JSON API, Prometheus metrics and health endpoints."""
