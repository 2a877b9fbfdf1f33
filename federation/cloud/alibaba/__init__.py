"""Thin adapters over the Alibaba Cloud SDKs (SLB, alidns, CEN): credentials, endpoints, retries.

``AlibabaClient`` (client.py) owns the SDK client, the thread pool, retries and rate limits; ``AlidnsApi``,
``SlbApi`` and ``CenApi`` translate one action each into plain data. No policy lives here.
"""

from federation.cloud.alibaba.errors import AlibabaError

__all__ = ["AlibabaError"]
