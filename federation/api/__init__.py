"""Typed spec and status of the FederatedApp and MemberCluster custom resources, and their validation.

- ``constants``: API group/version, labels, annotations, condition types, value patterns.
- ``federatedapp`` / ``membercluster`` / ``conditions``: the pydantic models and pure helpers.
- ``crdschema``: the CRDs' OpenAPI schemas and CEL rules (source of truth for ``crds/*.yaml``);
  ``crdgen`` renders them (``python -m federation.api.crdgen``, ``fedctl crds``).
- ``schema_validation``: defaulting, pruning and OpenAPI + CEL validation for any CRD schema.
- ``cli``: ``fedctl validate``, offline checks of manifests.
"""
