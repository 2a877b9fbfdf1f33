"""Names every area shares: the API group, labels and annotations, and the value patterns.

The patterns are used twice, by the pydantic models and by the CRD schema generator
(:mod:`federation.api.crdgen`), so a value the API server accepts is a value Python accepts.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "federation.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

FEDERATEDAPP_KIND: Final = "FederatedApp"
FEDERATEDAPP_PLURAL: Final = "federatedapps"
FEDERATEDAPP_SINGULAR: Final = "federatedapp"
FEDERATEDAPP_SHORT_NAMES: Final = ("fapp",)

MEMBERCLUSTER_KIND: Final = "MemberCluster"
MEMBERCLUSTER_PLURAL: Final = "memberclusters"
MEMBERCLUSTER_SINGULAR: Final = "membercluster"
MEMBERCLUSTER_SHORT_NAMES: Final = ("mc",)

CATEGORY: Final = "federation"

FINALIZER: Final = "federation.io/cleanup"

# Labels put on everything the controller creates in member clusters: they are how it finds (and adopts
# after a crash) what it owns, and never touches anything else.
LABEL_APP: Final = "federation.io/app"
LABEL_APP_NAMESPACE: Final = "federation.io/app-namespace"
LABEL_APP_UID: Final = "federation.io/app-uid"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "fedctl"

# On a MemberCluster: "Unhealthy" drains the region (operator override, and the tests' hook).
ANNOTATION_REGION_HEALTH: Final = "federation.io/health-override"
HEALTH_OVERRIDE_UNHEALTHY: Final = "Unhealthy"

DEFAULT_KUBECONFIG_KEY: Final = "kubeconfig"

# --- condition types -------------------------------------------------------------------------------
COND_READY: Final = "Ready"
COND_PROGRESSING: Final = "Progressing"
COND_DEGRADED: Final = "Degraded"
COND_LOAD_BALANCERS_READY: Final = "LoadBalancersReady"
COND_DNS_PUBLISHED: Final = "DNSPublished"
COND_REACHABLE: Final = "Reachable"
COND_NETWORK_READY: Final = "NetworkReady"  # CEN attachment and inter-region bandwidth

# --- value patterns (ECMAScript/RE2-compatible: no look-arounds, so the API server accepts them) -----
# Kubernetes object names (DNS-1123 subdomain), as apimachinery's IsDNS1123Subdomain.
DNS1123_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_SUBDOMAIN_MAX: Final = 253
# DNS-1123 label (namespaces, container names).
DNS1123_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL_MAX: Final = 63
# IANA service name, as a Service port name: lower-case alphanumerics and '-', at most 15.
PORT_NAME: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PORT_NAME_MAX: Final = 15
# Alibaba Cloud region ids: cn-hangzhou, cn-beijing, eu-central-1, ap-southeast-1, cn-shanghai-finance-1.
REGION_ID: Final = r"^[a-z]{2}-[a-z]+(-[a-z0-9]+)*$"
REGION_ID_MAX: Final = 40
# Zone ids: cn-hangzhou-h, eu-central-1a, ap-southeast-1b.
ZONE_ID: Final = r"^[a-z]{2}-[a-z]+(-[a-z0-9]+)*$"
# A DNS zone / fully-qualified host name, lower case, no trailing dot, at least two labels.
DOMAIN_NAME: Final = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$"
DOMAIN_NAME_MAX: Final = 253
# alidns line codes: default, telecom, cn_telecom_zhejiang, cn_region_huadong, os_asia_hk ...
LINE_CODE: Final = r"^[a-z][a-z0-9_]*$"
LINE_CODE_MAX: Final = 64
# Alibaba resource ids.
VPC_ID: Final = r"^vpc-[a-z0-9]+$"
VSWITCH_ID: Final = r"^vsw-[a-z0-9]+$"
CEN_ID: Final = r"^cen-[a-z0-9]+$"
# An SLB server certificate id: "<uid>-<region>" or a plain alphanumeric id.
CERTIFICATE_ID: Final = r"^[A-Za-z0-9][-_A-Za-z0-9]*$"
# A URL path for HTTP health checks.
HTTP_PATH: Final = r"^/[-A-Za-z0-9/._~%!$&'()*+,;=:@?]*$"
# Environment variable names (apimachinery IsEnvVarName).
ENV_VAR_NAME: Final = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# resource.Quantity (apimachinery's quantity regexp).
QUANTITY: Final = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"  # noqa: E501
# metav1.Condition reason.
CONDITION_REASON: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
# metav1.Condition type (the qualified-name form).
CONDITION_TYPE: Final = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"  # noqa: E501

# SLB instance specs (Alibaba Cloud CreateLoadBalancer LoadBalancerSpec).
SLB_SPECS: Final = (
    "slb.s1.small",
    "slb.s2.small",
    "slb.s2.medium",
    "slb.s3.small",
    "slb.s3.medium",
    "slb.s3.large",
)
