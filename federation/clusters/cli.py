"""`fedctl join` / `fedctl unjoin`: register a member cluster with the host, or remove it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
import yaml

from federation.clusters.host import HostConfigError, host_client
from federation.clusters.join import JoinError, JoinSpec, join, self_contained_kubeconfig, unjoin
from federation.clusters.kubeapi import KubeApi, KubeError

_host_options = [
    click.option(
        "--kubeconfig",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="The HOST cluster's kubeconfig (default: FEDCTL_KUBECONFIG, in-cluster, ~/.kube/config).",
    ),
    click.option("--context", "host_context", default=None, help="Context in the host kubeconfig."),
    click.option(
        "-n",
        "--namespace",
        default=None,
        help="Namespace of the kubeconfig Secret (default: the controller's, federation-system).",
    ),
]


async def _host(kubeconfig: Path | None, context: str | None) -> KubeApi:
    try:
        return await host_client(kubeconfig, context)
    except HostConfigError as exc:
        raise click.UsageError(str(exc)) from None


def host_options(f: Any) -> Any:
    for opt in reversed(_host_options):
        f = opt(f)
    return f


@click.command("join")
@click.argument("name")
@click.option(
    "--member-kubeconfig",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A kubeconfig that reaches the member (e.g. with the fedctl-member token).",
)
@click.option("--member-context", default=None, help="Context in the member kubeconfig (default: current).")
@click.option("--region", required=True, help="The member's Alibaba Cloud region id, e.g. cn-hangzhou.")
@click.option("--zone", "zones", multiple=True, help="A zone the member's nodes are in (repeatable).")
@click.option("--vpc-id", default=None)
@click.option("--vswitch-id", "vswitch_ids", multiple=True)
@click.option("--cen-id", default=None)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Run the preflight checks before joining (--no-verify skips them).",
)
@click.option("--force", is_flag=True, help="Join even when a preflight check fails (warnings never block).")
@click.option("--check-only", is_flag=True, help="Run the preflight checks and change nothing.")
@host_options
@click.pass_obj
def join_cmd(
    settings: Any,
    name: str,
    member_kubeconfig: Path,
    member_context: str | None,
    region: str,
    zones: tuple[str, ...],
    vpc_id: str | None,
    vswitch_ids: tuple[str, ...],
    cen_id: str | None,
    verify: bool,
    force: bool,
    check_only: bool,
    kubeconfig: Path | None,
    host_context: str | None,
    namespace: str | None,
) -> None:
    """Join member cluster NAME: run the preflight checks, then store its kubeconfig in a Secret and
    create its MemberCluster. A failed check refuses the join unless --force."""
    try:
        raw = yaml.safe_load(member_kubeconfig.read_text())
        config = self_contained_kubeconfig(raw, context=member_context, base_dir=member_kubeconfig.parent)
    except (JoinError, yaml.YAMLError) as exc:
        raise click.ClickException(str(exc)) from None
    spec = JoinSpec(
        name=name,
        region=region,
        namespace=namespace or settings.namespace,
        zones=zones,
        vpc_id=vpc_id,
        vswitch_ids=vswitch_ids,
        cen_id=cen_id,
    )
    if verify or check_only:
        passed = asyncio.run(_preflight(settings, spec, config))
        if check_only:
            if not passed:
                raise SystemExit(1)
            return
        if not passed and not force:
            raise click.ClickException(
                f"not joining {name}: a preflight check failed (fix it, or --force to join anyway)"
            )
    outcome, version = asyncio.run(_join(settings, spec, config, kubeconfig, host_context))
    seen = f" (Kubernetes {version})" if version else ""
    click.echo(
        f"membercluster/{name} {outcome}: region {region}{seen}; kubeconfig in secret "
        f"{spec.namespace}/{spec.secret_name}"
    )


async def _preflight(settings: Any, spec: JoinSpec, config: dict[str, Any]) -> bool:
    from federation.preflight.cli import checks_for, report

    member = await KubeApi.from_kubeconfig_dict(config, name=spec.name)
    try:
        checks = await checks_for(settings, member, spec.region)
    finally:
        await member.close()
    return report(checks)


async def _join(
    settings: Any,
    spec: JoinSpec,
    config: dict[str, Any],
    kubeconfig: Path | None,
    host_context: str | None,
) -> tuple[str, str | None]:
    version = None
    member = await KubeApi.from_kubeconfig_dict(config, name=spec.name)
    try:
        version = (await member.version()).get("gitVersion")
    except KubeError:
        version = None  # --no-verify: the member need not answer now
    finally:
        await member.close()
    host = await _host(kubeconfig or settings.kubeconfig, host_context or settings.kube_context)
    try:
        return await join(host, spec, config), version
    except (JoinError, KubeError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        await host.close()


@click.command("unjoin")
@click.argument("name")
@host_options
@click.pass_obj
def unjoin_cmd(
    settings: Any, name: str, kubeconfig: Path | None, host_context: str | None, namespace: str | None
) -> None:
    """Remove member cluster NAME and its kubeconfig Secret (its apps' replicas move elsewhere)."""

    async def run() -> bool:
        host = await _host(kubeconfig or settings.kubeconfig, host_context or settings.kube_context)
        try:
            return await unjoin(host, name, namespace or settings.namespace)
        except KubeError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            await host.close()

    if not asyncio.run(run()):
        raise click.ClickException(f"membercluster/{name} is not joined")
    click.echo(f"membercluster/{name} removed")
