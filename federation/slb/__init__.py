"""The regional load balancer of each app: one classic SLB per (app, region).

- :mod:`federation.slb.types`: the plain listener/backend values the plan and the adapter share;
- :mod:`federation.slb.plan`: pure: names, tags, client tokens, the desired listeners and backends, and
  the calls that move an observed SLB to them;
- :mod:`federation.slb.ccm`: pure: the cloud-controller-manager annotations of CloudController mode;
- :mod:`federation.slb.step`: the reconcile step that reads the SLB API and applies the plan.
"""
