"""Thin adapters over the Alibaba Cloud SDKs (SLB, alidns, CEN): credentials, endpoints, retries."""
