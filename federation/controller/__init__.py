"""Watches, work queue, the app and cluster reconcilers, leader election and finalizers."""
