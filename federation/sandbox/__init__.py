"""Local stand-ins for Kubernetes and Alibaba Cloud, used by the tests and by `fedctl sandbox`."""
