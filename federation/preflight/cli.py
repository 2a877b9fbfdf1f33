"""`fedctl preflight MEMBER` (the join checks again, for a joined member) and the helpers `fedctl join`
uses to run them before it registers one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from federation.clusters.host import HostConfigError, host_client
from federation.clusters.kubeapi import SECRETS, KubeApi, KubeError
from federation.clusters.resources import MEMBERCLUSTERS
from federation.preflight.checks import Check, blocking, render


def ecs_api(settings: Any, region: str) -> Any:
    """The ECS reads of the security-group check, when Alibaba credentials are configured."""
    if not getattr(settings, "alibaba_access_key_id", None):
        return None
    from federation.cloud.alibaba.client import AlibabaClient
    from federation.cloud.alibaba.ecs import EcsApi

    try:
        return EcsApi(AlibabaClient.from_settings(settings, region_id=region))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


async def checks_for(settings: Any, member: KubeApi, region: str) -> list[Check]:
    from federation.preflight.run import run_preflight

    ecs = ecs_api(settings, region)
    try:
        return await run_preflight(member, region, ecs=ecs)
    finally:
        if ecs is not None:
            await ecs.client.close()


def report(checks: list[Check]) -> bool:
    """Print the checks; True when none blocks."""
    click.echo(render(checks))
    failed = blocking(checks)
    if failed:
        click.echo(f"preflight: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}")
    else:
        warned = [c.name for c in checks if c.verdict == "warn"]
        click.echo("preflight: passed" + (f" with warnings ({', '.join(warned)})" if warned else ""))
    return not failed


async def _member_checks(
    settings: Any, name: str, kubeconfig: Path | None, context: str | None
) -> list[Check]:
    from pydantic import ValidationError

    from federation.api.membercluster import MemberCluster
    from federation.clusters.registry import KubeconfigError, kubeconfig_from_secret

    try:
        host = await host_client(kubeconfig or settings.kubeconfig, context or settings.kube_context)
    except HostConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        raw = await host.get(MEMBERCLUSTERS, name)
        if raw is None:
            raise click.ClickException(f"MemberCluster {name} not found")
        try:
            mc = MemberCluster.model_validate(raw)
        except ValidationError as exc:
            raise click.ClickException(
                f"MemberCluster {name} is invalid: {exc.errors()[0].get('msg')}"
            ) from None
        ref = mc.spec.kubeconfig_secret_ref
        secret = await host.get(SECRETS, ref.name, ref.namespace)
        try:
            config = kubeconfig_from_secret(secret, namespace=ref.namespace, name=ref.name, key=ref.key)
        except KubeconfigError as exc:
            raise click.ClickException(str(exc)) from None
    except KubeError as exc:
        raise click.ClickException(f"cannot read MemberCluster {name} from the host: {exc.reason}") from None
    finally:
        await host.close()
    member = await KubeApi.from_kubeconfig_dict(config, name=name)
    try:
        return await checks_for(settings, member, mc.spec.region)
    finally:
        await member.close()


@click.command("preflight")
@click.argument("member")
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The HOST cluster's kubeconfig.",
)
@click.option("--context", default=None, help="Context in the host kubeconfig.")
@click.pass_obj
def preflight_cmd(settings: Any, member: str, kubeconfig: Path | None, context: str | None) -> None:
    """Run the join checks again for joined member MEMBER, with the kubeconfig the controller uses.
    Exit 1 when a check fails (warnings do not count)."""
    if not report(asyncio.run(_member_checks(settings, member, kubeconfig, context))):
        raise SystemExit(1)
