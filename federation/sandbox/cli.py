"""`fedctl sim ...`: run one stand-in on its own (the Kubernetes simulator or the Alibaba Cloud emulator)."""

from __future__ import annotations

import click

from federation.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "kube": "federation.sandbox.kube.cli:kube",
        "aliyun": "federation.sandbox.aliyun.cli:aliyun",
    },
)
def sim() -> None:
    """Run a local stand-in: simulated Kubernetes clusters or the Alibaba Cloud API emulator."""
