"""The source of truth for the two CRDs: their OpenAPI v3 schemas, CEL rules and printer columns.

``crds/*.yaml`` are generated from here (``python -m federation.api.crdgen``), and a test checks the
committed files equal the output. The pydantic models in :mod:`federation.api.federatedapp` and
:mod:`federation.api.membercluster` are written by hand to read well; ``tests/api`` proves they agree
with these schemas field by field (names, required, defaults) and on a shared corpus of manifests.

CEL rules are written for a defaulted object, as the API server defaults before it validates.
Every list that a rule iterates has a ``maxItems`` and every string a ``maxLength``, so the API
server's CEL cost estimate stays within budget (Kubernetes docs: "Validation rules", "Resource use by
validation functions").
"""

from __future__ import annotations

from typing import Any

from federation.api import constants as c

Schema = dict[str, Any]


# --- builders ---------------------------------------------------------------------------------------


def rule(
    expr: str,
    message: str,
    field_path: str | None = None,
    reason: str | None = None,
    message_expression: str | None = None,
) -> Schema:
    out: Schema = {"rule": expr, "message": message}
    if message_expression:
        out["messageExpression"] = message_expression
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def string(
    description: str,
    *,
    pattern: str | None = None,
    max_length: int | None = 253,
    min_length: int | None = None,
    enum: list[str] | tuple[str, ...] | None = None,
    default: str | None = None,
    fmt: str | None = None,
    rules: list[Schema] | None = None,
) -> Schema:
    out: Schema = {"type": "string", "description": description}
    if enum is not None:
        out["enum"] = list(enum)
    if pattern is not None:
        out["pattern"] = pattern
    if min_length is not None:
        out["minLength"] = min_length
    if max_length is not None and enum is None and fmt is None:
        out["maxLength"] = max_length
    if fmt is not None:
        out["format"] = fmt
    if default is not None:
        out["default"] = default
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def integer(
    description: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
    fmt: str = "int32",
) -> Schema:
    out: Schema = {"type": "integer", "format": fmt, "description": description}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    if default is not None:
        out["default"] = default
    return out


def number(description: str, *, minimum: float | None = None) -> Schema:
    out: Schema = {"type": "number", "description": description}
    if minimum is not None:
        out["minimum"] = minimum
    return out


def boolean(description: str, *, default: bool | None = None) -> Schema:
    out: Schema = {"type": "boolean", "description": description}
    if default is not None:
        out["default"] = default
    return out


def obj(
    description: str,
    properties: dict[str, Schema],
    *,
    required: list[str] | None = None,
    rules: list[Schema] | None = None,
    default: dict[str, Any] | None = None,
) -> Schema:
    out: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        out["required"] = required
    if default is not None:
        out["default"] = default
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def array(
    description: str,
    items: Schema,
    *,
    max_items: int,
    min_items: int | None = None,
    list_type: str | None = None,
    map_keys: list[str] | None = None,
    rules: list[Schema] | None = None,
) -> Schema:
    out: Schema = {"type": "array", "description": description, "items": items, "maxItems": max_items}
    if min_items is not None:
        out["minItems"] = min_items
    if list_type is not None:
        out["x-kubernetes-list-type"] = list_type
    if map_keys is not None:
        out["x-kubernetes-list-map-keys"] = map_keys
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def string_map(description: str, *, max_properties: int = 64) -> Schema:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string", "maxLength": 4096},
        "maxProperties": max_properties,
    }


def region_name(description: str = "An Alibaba Cloud region id, e.g. cn-hangzhou, eu-central-1.") -> Schema:
    return string(description, pattern=c.REGION_ID, max_length=c.REGION_ID_MAX)


def region_list(description: str) -> Schema:
    return array(description, region_name(), max_items=32, list_type="set")


def conditions_schema() -> Schema:
    """metav1.Condition, as Kubernetes' own types declare it."""
    condition = obj(
        "An observation of one aspect of the object's state (Kubernetes condition convention).",
        {
            "type": string("Condition type, e.g. Ready.", pattern=c.CONDITION_TYPE, max_length=316),
            "status": string("True, False or Unknown.", enum=["True", "False", "Unknown"]),
            "reason": string(
                "A CamelCase reason for the last transition.",
                pattern=c.CONDITION_REASON,
                min_length=1,
                max_length=1024,
            ),
            "message": string("A human-readable explanation.", max_length=32768, default=""),
            "lastTransitionTime": string("When the status last changed.", fmt="date-time"),
            "observedGeneration": integer(
                "The .metadata.generation the condition was set from.", minimum=0, fmt="int64"
            ),
        },
        required=["type", "status", "reason", "lastTransitionTime"],
    )
    return array(
        "Conditions in the Kubernetes convention.",
        condition,
        max_items=16,
        list_type="map",
        map_keys=["type"],
    )


# --- FederatedApp -----------------------------------------------------------------------------------

_QUANTITY: Schema = {
    "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": c.QUANTITY,
    "description": "A Kubernetes quantity, e.g. 500m, 256Mi, 2.",
}


def _template() -> Schema:
    container = {
        "type": "object",
        "description": "A container (core/v1 Container; further fields are passed through).",
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["name", "image"],
        "properties": {
            "name": string("Container name.", pattern=c.DNS1123_LABEL, max_length=c.DNS1123_LABEL_MAX),
            "image": string("Container image.", min_length=1, max_length=1024),
        },
    }
    pod_spec = {
        "type": "object",
        "description": "A core/v1 PodSpec. Only containers is checked here; members validate the rest.",
        "x-kubernetes-preserve-unknown-fields": True,
        "required": ["containers"],
        "properties": {
            "containers": array("The pod's containers.", container, min_items=1, max_items=64),
        },
    }
    return obj(
        "The pod template of the Deployment created in each region.",
        {
            "metadata": obj(
                "Pod labels and annotations.",
                {
                    "labels": string_map("Pod labels (the controller adds federation.io/app)."),
                    "annotations": string_map("Pod annotations.", max_properties=128),
                },
            ),
            "spec": pod_spec,
        },
        required=["spec"],
    )


def _selector() -> Schema:
    requirement = obj(
        "A label selector requirement.",
        {
            "key": string("The label key.", min_length=1, max_length=317),
            "operator": string(
                "How the key relates to the values.", enum=["In", "NotIn", "Exists", "DoesNotExist"]
            ),
            "values": array(
                "Values for In and NotIn.", string("A label value.", max_length=63), max_items=64
            ),
        },
        required=["key", "operator"],
        rules=[
            rule(
                "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
                "values must be non-empty when operator is In or NotIn",
                ".values",
            ),
            rule(
                "!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || "
                "size(self.values) == 0",
                "values must be empty when operator is Exists or DoesNotExist",
                ".values",
            ),
        ],
    )
    return obj(
        "Selects the pods of the Deployment; default: {matchLabels: {federation.io/app: <name>}}.",
        {
            "matchLabels": string_map("Labels the pods must carry."),
            "matchExpressions": array("Set-based requirements.", requirement, max_items=16),
        },
    )


def _placement() -> Schema:
    region = obj(
        "A region the app may run in.",
        {
            "name": region_name(),
            "cluster": string(
                "The MemberCluster to use in this region (default: any Ready one there).",
                pattern=c.DNS1123_SUBDOMAIN,
                max_length=c.DNS1123_SUBDOMAIN_MAX,
            ),
            "weight": integer(
                "Relative share of replicas (Weighted) and of DNS answers.",
                minimum=0,
                maximum=1000,
                default=1,
            ),
            "minReplicas": integer("Replicas this region always gets while healthy.", minimum=0, default=0),
            "maxReplicas": integer("Most replicas this region may get.", minimum=0),
        },
        required=["name"],
        rules=[
            rule(
                "!has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
                "minReplicas must be less than or equal to maxReplicas",
                ".minReplicas",
            )
        ],
    )
    return obj(
        "Where the replicas run and how they are divided.",
        {
            "strategy": string(
                "Spread: evenly (by weight within min/max); Weighted: by weight; "
                "Failover: all in the first healthy region of failoverOrder.",
                enum=["Spread", "Weighted", "Failover"],
                default="Spread",
            ),
            "regions": array(
                "The regions the app may use; names are unique.",
                region,
                min_items=1,
                max_items=32,
                list_type="map",
                map_keys=["name"],
            ),
            "failoverOrder": region_list(
                "Region priority for the Failover strategy (required there), "
                "and the default DNS failover order."
            ),
            "rescheduleOnFailure": boolean(
                "Move replicas off an unhealthy or unreachable region.", default=True
            ),
            "rebalanceOnRecovery": boolean("Move them back when the region recovers.", default=True),
        },
        required=["regions"],
        rules=[
            rule(
                "self.strategy != 'Weighted' || self.regions.exists(r, r.weight > 0)",
                "at least one region must have a weight greater than 0 when strategy is Weighted",
                ".regions",
            ),
            rule(
                "self.strategy != 'Failover' || (has(self.failoverOrder) && size(self.failoverOrder) > 0)",
                "failoverOrder is required when strategy is Failover",
                ".failoverOrder",
                "FieldValueRequired",
            ),
            rule(
                "!has(self.failoverOrder) || self.failoverOrder.all(n, self.regions.exists(r, r.name == n))",
                "failoverOrder may only name regions listed in placement.regions",
                ".failoverOrder",
            ),
        ],
    )


def _overrides() -> Schema:
    env = obj(
        "An environment variable.",
        {
            "name": string("Variable name.", pattern=c.ENV_VAR_NAME, min_length=1, max_length=253),
            "value": string("Variable value.", max_length=32768, default=""),
        },
        required=["name"],
    )
    quantities = {
        "type": "object",
        "description": "Resource name to quantity.",
        "additionalProperties": _QUANTITY,
        "maxProperties": 16,
    }
    override = obj(
        "Changes to the Deployment in one region.",
        {
            "region": region_name("The region this override applies to (one of placement.regions)."),
            "image": string(
                "Image for the container (default: the first container).", min_length=1, max_length=1024
            ),
            "container": string(
                "The container whose image is replaced.",
                pattern=c.DNS1123_LABEL,
                max_length=c.DNS1123_LABEL_MAX,
            ),
            "replicas": integer("A fixed replica count for this region, bypassing the division.", minimum=0),
            "certificateId": string(
                "SLB server certificate of every HTTPS port in this region (certificates are regional).",
                pattern=c.CERTIFICATE_ID,
                max_length=128,
            ),
            "env": array(
                "Environment variables added to (or replacing those of) every container.",
                env,
                max_items=64,
                list_type="map",
                map_keys=["name"],
            ),
            "resources": obj(
                "Resource limits and requests for every container.",
                {
                    "limits": quantities,
                    "requests": quantities,
                },
            ),
        },
        required=["region"],
    )
    return array(
        "Per-region overrides; one per region.", override, max_items=32, list_type="map", map_keys=["region"]
    )


def _ports() -> Schema:
    port = obj(
        "A service port, exposed by the Service in each member and by each regional SLB listener.",
        {
            "name": string(
                "Port name (IANA service name style).", pattern=c.PORT_NAME, max_length=c.PORT_NAME_MAX
            ),
            "port": integer("The listener / service port.", minimum=1, maximum=65535),
            "targetPort": integer("The container port (default: port).", minimum=1, maximum=65535),
            "protocol": string(
                "TCP, UDP, or HTTP/HTTPS (SLB layer-7 listeners; TCP in the cluster).",
                enum=["TCP", "UDP", "HTTP", "HTTPS"],
                default="TCP",
            ),
            "certificateId": string(
                "SLB server certificate of this HTTPS port's listener (default: loadBalancer.certificateId).",
                pattern=c.CERTIFICATE_ID,
                max_length=128,
            ),
        },
        required=["name", "port"],
        rules=[
            rule(
                "!has(self.certificateId) || self.protocol == 'HTTPS'",
                "certificateId is only valid for protocol HTTPS",
                ".certificateId",
                "FieldValueForbidden",
            )
        ],
    )
    return array(
        "The ports of the app.",
        port,
        min_items=1,
        max_items=32,
        list_type="map",
        map_keys=["name"],
        rules=[
            rule(
                "self.all(p, self.exists_one(q, q.port == p.port && "
                "(q.protocol == 'UDP') == (p.protocol == 'UDP')))",
                "a port number may be used once for UDP and once for TCP/HTTP/HTTPS",
            )
        ],
    )


def _load_balancer() -> Schema:
    health = obj(
        "The SLB's health check of its backends.",
        {
            "enabled": boolean("Whether the SLB checks its backends.", default=True),
            "type": string("tcp or http.", enum=["tcp", "http"], default="tcp"),
            "uri": string("Path for http checks.", pattern=c.HTTP_PATH, max_length=80),
            "connectPort": integer("Port checked (default: the backend port).", minimum=1, maximum=65535),
            "intervalSeconds": integer("Seconds between checks.", minimum=1, maximum=50, default=2),
            "timeoutSeconds": integer("Seconds before a check fails.", minimum=1, maximum=300, default=5),
            "healthyThreshold": integer(
                "Successes before a backend is healthy.", minimum=2, maximum=10, default=3
            ),
            "unhealthyThreshold": integer(
                "Failures before a backend is unhealthy.", minimum=2, maximum=10, default=3
            ),
        },
        default={},
        rules=[
            rule(
                "!self.enabled || self.type != 'http' || has(self.uri)",
                "uri is required when the health check type is http",
                ".uri",
                "FieldValueRequired",
            )
        ],
    )
    return obj(
        "The Alibaba Cloud SLB created for the app in each region.",
        {
            "mode": string(
                "Managed: the controller creates and owns one SLB per region (Service type NodePort). "
                "CloudController: a type LoadBalancer Service whose annotations ask the member's "
                "cloud-controller-manager for the same SLB settings.",
                enum=["Managed", "CloudController"],
                default="Managed",
            ),
            "addressType": string("internet or intranet.", enum=["internet", "intranet"], default="internet"),
            "spec": string("SLB instance spec.", enum=c.SLB_SPECS, default="slb.s1.small"),
            "bandwidth": integer("Bandwidth in Mbit/s (peak for paybytraffic).", minimum=1, maximum=5120),
            "chargeType": string(
                "paybytraffic or paybybandwidth.",
                enum=["paybytraffic", "paybybandwidth"],
                default="paybytraffic",
            ),
            "certificateId": string(
                "SLB server certificate id of every HTTPS port without its own certificateId.",
                pattern=c.CERTIFICATE_ID,
                max_length=128,
            ),
            "healthCheck": health,
        },
        default={},
        rules=[
            rule(
                "self.chargeType != 'paybybandwidth' || has(self.bandwidth)",
                "bandwidth is required when chargeType is paybybandwidth",
                ".bandwidth",
                "FieldValueRequired",
            )
        ],
    )


def _dns() -> Schema:
    line = obj(
        "Pins a client line to regions.",
        {
            "line": string(
                "An alidns line code: default, telecom, cn_region_huadong, os_euro, ...",
                pattern=c.LINE_CODE,
                max_length=c.LINE_CODE_MAX,
            ),
            "regions": array(
                "Regions answered on this line (healthy ones).",
                region_name(),
                min_items=1,
                max_items=32,
                list_type="set",
            ),
        },
        required=["line", "regions"],
    )
    return obj(
        "How the app's hostname is published.",
        {
            "zone": string(
                "The DNS zone (domain) the hostname lives in.",
                pattern=c.DOMAIN_NAME,
                max_length=c.DOMAIN_NAME_MAX,
            ),
            "hostname": string(
                "The fully-qualified name clients resolve; the zone or a name inside it.",
                pattern=c.DOMAIN_NAME,
                max_length=c.DOMAIN_NAME_MAX,
            ),
            "ttl": integer("Record TTL in seconds.", minimum=1, maximum=86400, default=60),
            "policy": string(
                "Latency: nearest healthy region per line; Geo: by lines; Weighted: by weight; "
                "Failover: first healthy region.",
                enum=["Latency", "Geo", "Weighted", "Failover"],
                default="Latency",
            ),
            "latencyToleranceMs": integer(
                "Regions within this many ms of the best one also answer.",
                minimum=0,
                maximum=10000,
                default=20,
            ),
            "failoverOrder": region_list(
                "Region priority for the Failover policy (default: placement.failoverOrder)."
            ),
            "lines": array(
                "Line-to-regions map (required for Geo; overrides for the other policies).",
                line,
                max_items=64,
                list_type="map",
                map_keys=["line"],
            ),
        },
        required=["zone", "hostname"],
        rules=[
            rule(
                "self.hostname == self.zone || self.hostname.endsWith('.' + self.zone)",
                "hostname must be the zone or a name inside it",
                ".hostname",
                message_expression="'hostname ' + self.hostname + ' is not inside zone ' + self.zone",
            ),
            rule(
                "self.policy != 'Geo' || (has(self.lines) && size(self.lines) > 0)",
                "lines is required when policy is Geo",
                ".lines",
                "FieldValueRequired",
            ),
        ],
    )


def _health_probe() -> Schema:
    return obj(
        "The external probe of each regional VIP that drives failover.",
        {
            "type": string("TCP connect or HTTP GET.", enum=["TCP", "HTTP"], default="TCP"),
            "path": string("Path for HTTP probes (default /).", pattern=c.HTTP_PATH, max_length=1024),
            "port": integer("Port probed, one of spec.ports (default: the first).", minimum=1, maximum=65535),
            "intervalSeconds": integer(
                "Seconds between probes (while a result disagrees with the state, re-probes follow "
                "within a fraction of a second until a threshold is reached or the run breaks).",
                minimum=1,
                maximum=3600,
                default=2,
            ),
            "timeoutSeconds": integer(
                "Seconds before a probe fails; at most intervalSeconds.", minimum=1, maximum=60, default=1
            ),
            "failureThreshold": integer(
                "Consecutive failures before the region is unhealthy.", minimum=1, maximum=10, default=8
            ),
            "successThreshold": integer(
                "Consecutive successes before it is healthy again.", minimum=1, maximum=10, default=2
            ),
        },
        default={},
        rules=[
            rule(
                "self.timeoutSeconds <= self.intervalSeconds",
                "timeoutSeconds must be less than or equal to intervalSeconds",
                ".timeoutSeconds",
            ),
            rule(
                "!has(self.path) || self.type == 'HTTP'",
                "path is only valid for HTTP probes",
                ".path",
                "FieldValueForbidden",
            ),
        ],
    )


def federatedapp_spec() -> Schema:
    return obj(
        "The desired state: a workload, where it runs, how it is exposed and published.",
        {
            "replicas": integer("Total replicas across all regions.", minimum=0, default=1),
            "template": _template(),
            "selector": _selector(),
            "placement": _placement(),
            "overrides": _overrides(),
            "ports": _ports(),
            "loadBalancer": _load_balancer(),
            "dns": _dns(),
            "healthProbe": _health_probe(),
        },
        required=["template", "placement", "ports", "dns"],
        rules=[
            rule(
                "!has(self.selector) || !has(self.selector.matchLabels) || "
                "self.selector.matchLabels.all(k, has(self.template.metadata) && "
                "has(self.template.metadata.labels) && k in self.template.metadata.labels && "
                "self.template.metadata.labels[k] == self.selector.matchLabels[k])",
                "selector.matchLabels must match template.metadata.labels",
                ".selector",
            ),
            rule(
                "!has(self.overrides) || "
                "self.overrides.all(o, self.placement.regions.exists(r, r.name == o.region))",
                "overrides may only name regions listed in placement.regions",
                ".overrides",
            ),
            rule(
                "!has(self.overrides) || self.overrides.all(o, !has(o.container) || "
                "self.template.spec.containers.exists(x, x.name == o.container))",
                "overrides[].container must name a container of the pod template",
                ".overrides",
            ),
            rule(
                "has(self.loadBalancer.certificateId) || "
                "self.ports.all(p, p.protocol != 'HTTPS' || has(p.certificateId)) || "
                "(has(self.overrides) && self.placement.regions.all(r, "
                "self.overrides.exists(o, o.region == r.name && has(o.certificateId))))",
                "certificateId is required when a port uses protocol HTTPS",
                ".loadBalancer.certificateId",
                "FieldValueRequired",
            ),
            rule(
                "!has(self.dns.lines) || self.dns.lines.all(l, "
                "l.regions.all(n, self.placement.regions.exists(r, r.name == n)))",
                "dns.lines may only name regions listed in placement.regions",
                ".dns.lines",
            ),
            rule(
                "!has(self.dns.failoverOrder) || "
                "self.dns.failoverOrder.all(n, self.placement.regions.exists(r, r.name == n))",
                "dns.failoverOrder may only name regions listed in placement.regions",
                ".dns.failoverOrder",
            ),
            rule(
                "self.dns.policy != 'Failover' || has(self.dns.failoverOrder) || "
                "has(self.placement.failoverOrder)",
                "the Failover DNS policy needs dns.failoverOrder or placement.failoverOrder",
                ".dns.failoverOrder",
                "FieldValueRequired",
            ),
            rule(
                "!has(self.healthProbe.port) || self.ports.exists(p, p.port == self.healthProbe.port)",
                "healthProbe.port must be one of spec.ports",
                ".healthProbe.port",
            ),
        ],
    )


def federatedapp_status() -> Schema:
    region = obj(
        "What the controller sees in one region.",
        {
            "region": string("Region id.", max_length=c.REGION_ID_MAX),
            "cluster": string("The MemberCluster serving it.", max_length=c.DNS1123_SUBDOMAIN_MAX),
            "desiredReplicas": integer("Replicas placed here.", minimum=0),
            "readyReplicas": integer("Replicas ready here.", minimum=0),
            "reachable": boolean("Whether the member's API answered."),
            "health": string(
                "The region's health for this app (Healthy, Unhealthy, Unknown, ...).", max_length=64
            ),
            "healthReason": string(
                "Why the region is not Healthy: each failing signal's reason (\"VIP 47.97.0.11:80 refused 3 "
                'times", "0/3 SLB backends normal", "member API unreachable: ...") or the drain.',
                max_length=1024,
            ),
            "excludedReason": string("Why the region gets no replicas, if it gets none.", max_length=1024),
            "loadBalancerId": string("The regional SLB's id.", max_length=128),
            "address": string("The regional SLB's address.", max_length=253),
            "backendHealth": obj(
                "The SLB's own view of its backends (DescribeHealthStatus), per backend and listener port.",
                {
                    "normal": integer("Backend-port pairs the SLB finds healthy.", minimum=0, default=0),
                    "abnormal": integer(
                        "Backend-port pairs failing the SLB's health check.", minimum=0, default=0
                    ),
                    "unavailable": integer(
                        "Pairs not checked (listener stopped, check off).", minimum=0, default=0
                    ),
                },
            ),
            "listeners": {
                "type": "array",
                "description": "The regional SLB's listeners as PROTOCOL:PORT->NODEPORT, marked stopped "
                "when not started.",
                "maxItems": 64,
                "items": {"type": "string", "maxLength": 64},
            },
            "servingDNS": boolean("Whether DNS answers with this region."),
            "dnsReason": string("Why DNS does not answer with it.", max_length=1024),
            "phase": string(
                "Make-before-break phase: Serving, Joining (replicas first, DNS once ready), Draining "
                "(out of DNS or about to be, replicas kept), Drained.",
                enum=["Serving", "Joining", "Draining", "Drained"],
            ),
            "phaseReason": string("What the phase waits for.", max_length=1024),
            "drainingUntil": string(
                "Draining: when the region's replicas may go (DNS change confirmed + drain grace).",
                fmt="date-time",
            ),
            "dnsRemovedAt": string(
                "When the DNS provider confirmed that DNS no longer answers with the region.", fmt="date-time"
            ),
        },
        required=["region"],
    )
    record = obj(
        "The answers published for one line.",
        {
            "line": string("alidns line code.", max_length=c.LINE_CODE_MAX),
            "values": array("Addresses answered.", string("An address.", max_length=253), max_items=64),
        },
        required=["line"],
    )
    return obj(
        "The observed state, written by the controller.",
        {
            "observedGeneration": integer("The generation last acted on.", minimum=0, fmt="int64"),
            "conditions": conditions_schema(),
            "replicas": integer("Replicas placed in all regions.", minimum=0),
            "readyReplicas": integer("Replicas ready in all regions.", minimum=0),
            "regionsReady": string(
                "Regions with every replica ready over the regions the spec lists, e.g. 2/3.", max_length=16
            ),
            "regions": array("Per-region state.", region, max_items=32, list_type="map", map_keys=["region"]),
            "dns": obj(
                "What is published.",
                {
                    "hostname": string("The published name.", max_length=c.DOMAIN_NAME_MAX),
                    "failOpen": boolean(
                        "True when no region is healthy and every region is answered.", default=False
                    ),
                    "records": array("Answers per line.", record, max_items=256),
                },
            ),
        },
    )


def federatedapp_crd() -> Schema:
    root = obj(
        "A workload federated over regions, with a regional SLB each and smart-DNS traffic steering.",
        {
            "apiVersion": string("API version.", max_length=None),
            "kind": string("Kind.", max_length=None),
            "metadata": {"type": "object"},
            "spec": federatedapp_spec(),
            "status": federatedapp_status(),
        },
        required=["spec"],
        rules=[
            rule(
                "!has(self.metadata.name) || "
                "(self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && "
                "size(self.metadata.name) <= 63)",
                "metadata.name must be a DNS-1123 label of at most 63 characters "
                "(it becomes a label value in member clusters)",
                ".metadata.name",
            )
        ],
    )
    condition = '.status.conditions[?(@.type=="{}")].status'
    return _crd(
        kind=c.FEDERATEDAPP_KIND,
        plural=c.FEDERATEDAPP_PLURAL,
        singular=c.FEDERATEDAPP_SINGULAR,
        short_names=list(c.FEDERATEDAPP_SHORT_NAMES),
        scope="Namespaced",
        schema=root,
        columns=[
            {"name": "Strategy", "type": "string", "jsonPath": ".spec.placement.strategy"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
            {
                "name": "Regions",
                "type": "string",
                "jsonPath": ".status.regionsReady",
                "description": "Ready regions over the regions the spec lists",
            },
            {"name": "DNS", "type": "string", "jsonPath": condition.format(c.COND_DNS_PUBLISHED)},
            {"name": "Hostname", "type": "string", "jsonPath": ".spec.dns.hostname", "priority": 1},
            {"name": "Status", "type": "string", "jsonPath": condition.format(c.COND_READY), "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
        # `kubectl scale fapp web --replicas=20` (and an HPA) change spec.replicas through /scale
        scale={"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
    )


# --- MemberCluster ---------------------------------------------------------------------------------


def membercluster_spec() -> Schema:
    return obj(
        "A Kubernetes cluster in one Alibaba Cloud region, and how to reach it.",
        {
            "region": string(
                "The cluster's region id, e.g. cn-hangzhou. Immutable.",
                pattern=c.REGION_ID,
                max_length=c.REGION_ID_MAX,
                rules=[rule("self == oldSelf", "region is immutable")],
            ),
            "zones": array(
                "Zone ids the nodes are in, e.g. cn-hangzhou-h.",
                string("A zone id.", pattern=c.ZONE_ID, max_length=c.REGION_ID_MAX + 8),
                max_items=16,
                list_type="set",
            ),
            "kubeconfigSecretRef": obj(
                "The Secret holding the member's kubeconfig.",
                {
                    "name": string(
                        "Secret name.", pattern=c.DNS1123_SUBDOMAIN, max_length=c.DNS1123_SUBDOMAIN_MAX
                    ),
                    "namespace": string(
                        "Secret namespace.", pattern=c.DNS1123_LABEL, max_length=c.DNS1123_LABEL_MAX
                    ),
                    "key": string(
                        "Key in the Secret's data.",
                        pattern=r"^[-._a-zA-Z0-9]+$",
                        default=c.DEFAULT_KUBECONFIG_KEY,
                    ),
                },
                required=["name", "namespace"],
            ),
            "vpcId": string("The VPC the cluster runs in.", pattern=c.VPC_ID, max_length=64),
            "vSwitchIds": array(
                "vSwitches for the regional SLBs.",
                string("A vSwitch id.", pattern=c.VSWITCH_ID, max_length=64),
                max_items=16,
                list_type="set",
            ),
            "cenId": string(
                "The CEN instance connecting the regions' VPCs.", pattern=c.CEN_ID, max_length=64
            ),
            "labels": string_map("Free-form labels for placement and reporting."),
            "capacity": obj(
                "Capacity hints for placement.",
                {
                    "maxReplicas": integer(
                        "Most replicas this cluster should take, over all apps.", minimum=0
                    ),
                },
            ),
        },
        required=["region", "kubeconfigSecretRef"],
        rules=[
            rule(
                "!has(self.zones) || self.zones.all(z, z.startsWith(self.region) && z != self.region)",
                "zones must belong to the cluster's region",
                ".zones",
            ),
            rule(
                "!has(self.vSwitchIds) || size(self.vSwitchIds) == 0 || has(self.vpcId)",
                "vpcId is required when vSwitchIds are given",
                ".vpcId",
                "FieldValueRequired",
            ),
        ],
    )


def membercluster_status() -> Schema:
    return obj(
        "What the controller last saw of the cluster.",
        {
            "conditions": conditions_schema(),
            "kubernetesVersion": string("The member's Kubernetes version.", max_length=64),
            "nodeCount": integer("Nodes in the cluster.", minimum=0),
            "apiLatencyMs": number("Round-trip time of the last API probe, in milliseconds.", minimum=0),
            "lastProbeTime": string("When the cluster was last probed.", fmt="date-time"),
        },
    )


def membercluster_crd() -> Schema:
    root = obj(
        "A member cluster the federation may place workloads in.",
        {
            "apiVersion": string("API version.", max_length=None),
            "kind": string("Kind.", max_length=None),
            "metadata": {"type": "object"},
            "spec": membercluster_spec(),
            "status": membercluster_status(),
        },
        required=["spec"],
    )
    condition = '.status.conditions[?(@.type=="{}")].status'
    return _crd(
        kind=c.MEMBERCLUSTER_KIND,
        plural=c.MEMBERCLUSTER_PLURAL,
        singular=c.MEMBERCLUSTER_SINGULAR,
        short_names=list(c.MEMBERCLUSTER_SHORT_NAMES),
        scope="Cluster",
        schema=root,
        columns=[
            {"name": "Region", "type": "string", "jsonPath": ".spec.region"},
            {"name": "Ready", "type": "string", "jsonPath": condition.format(c.COND_READY)},
            {"name": "Reachable", "type": "string", "jsonPath": condition.format(c.COND_REACHABLE)},
            {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodeCount"},
            {"name": "Version", "type": "string", "jsonPath": ".status.kubernetesVersion"},
            {
                "name": "Network",
                "type": "string",
                "jsonPath": condition.format(c.COND_NETWORK_READY),
                "priority": 1,
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    scope: str,
    schema: Schema,
    columns: list[Schema],
    scale: Schema | None = None,
) -> Schema:
    subresources: Schema = {"status": {}}
    if scale is not None:
        subresources["scale"] = scale
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{c.GROUP}",
            "labels": {"app.kubernetes.io/part-of": "federation"},
        },
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": [c.CATEGORY],
            },
            "scope": scope,
            "versions": [
                {
                    "name": c.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def all_crds() -> list[Schema]:
    """Both CRDs, FederatedApp first."""
    return [federatedapp_crd(), membercluster_crd()]


def openapi_schema(crd: Schema) -> Schema:
    """The openAPIV3Schema of a CRD's (single) version."""
    schema: Schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def federatedapp_schema() -> Schema:
    return openapi_schema(federatedapp_crd())


def membercluster_schema() -> Schema:
    return openapi_schema(membercluster_crd())
