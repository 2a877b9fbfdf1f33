"""The dashboard, the JSON API, Prometheus ``/metrics`` and the ``/healthz``/``/readyz`` probes.

:class:`~federation.web.server.Dashboard` serves them from any ``fedctl`` process that has the host
cluster's client (``fedctl run`` replicas, leader or standby; ``fedctl dashboard``; the sandbox);
``federation/web/static`` holds the pages' HTML, script and style (no external assets).
"""
