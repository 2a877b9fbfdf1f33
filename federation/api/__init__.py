"""Typed spec and status of the FederatedApp and MemberCluster custom resources."""
