"""An Alibaba Cloud OpenAPI emulator (alidns, SLB, CEN) that the official SDKs talk to unmodified."""
