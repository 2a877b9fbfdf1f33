"""The sandbox's SLB data plane with real sockets on loopback: an SLB created through the official SDK
answers on its own 127.x address, forwards to the simulated nodes' NodePorts, health-checks them, and
follows the Deployment and the nodes; nothing is ever dialled outside 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aliyunsdkslb.request.v20140515.AddBackendServersRequest import AddBackendServersRequest
from aliyunsdkslb.request.v20140515.CreateLoadBalancerHTTPSListenerRequest import (
    CreateLoadBalancerHTTPSListenerRequest,
)
from aliyunsdkslb.request.v20140515.CreateLoadBalancerRequest import CreateLoadBalancerRequest
from aliyunsdkslb.request.v20140515.CreateLoadBalancerTCPListenerRequest import (
    CreateLoadBalancerTCPListenerRequest,
)
from aliyunsdkslb.request.v20140515.CreateLoadBalancerUDPListenerRequest import (
    CreateLoadBalancerUDPListenerRequest,
)
from aliyunsdkslb.request.v20140515.DescribeHealthStatusRequest import DescribeHealthStatusRequest
from aliyunsdkslb.request.v20140515.SetBackendServersRequest import SetBackendServersRequest
from aliyunsdkslb.request.v20140515.StartLoadBalancerListenerRequest import StartLoadBalancerListenerRequest
from aliyunsdkslb.request.v20140515.StopLoadBalancerListenerRequest import StopLoadBalancerListenerRequest

from federation.sandbox.aliyun import AliyunEmulator
from federation.sandbox.aliyun.slbdata import open_backend, probe_http, probe_tcp
from federation.sandbox.ecs import register_cluster_nodes
from federation.sandbox.kube import KubeSimulator, SimCluster
from federation.sandbox.kube.nodeports import node_address
from federation.sandbox.loopback import NonLoopbackTarget, PortPolicy, require_loopback
from tests.aliyun.conftest import make_acs, upload_request
from tests.waiting import wait_for

REGION = "cn-hangzhou"


@pytest.fixture
async def world() -> AsyncIterator[tuple[AliyunEmulator, SimCluster, Any]]:
    sim = KubeSimulator(rollout_delay=0.1, https=False, node_ports=True)
    emu = AliyunEmulator(domains=[])
    # listener ports below 1024 are mapped as for an unprivileged process, whoever runs the test
    emu.attach_data_plane(port_policy=PortPolicy(map_privileged=True), interval_scale=0.1)
    await emu.start(dns_port=None)
    cluster = await sim.add_cluster("member-a", region=REGION, nodes=2)
    register_cluster_nodes(emu.slb, cluster)
    acs = make_acs(emu, region=REGION)

    async def sdk(req: Any) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(await asyncio.to_thread(acs.do_action_with_exception, req))
        return result

    try:
        yield emu, cluster, sdk
    finally:
        await emu.stop()
        await sim.stop()


def _deploy(cluster: SimCluster, replicas: int) -> int:
    """A Deployment ``web`` with ``replicas`` and its NodePort Service; returns the nodePort."""
    api = cluster.api
    deploy_rt = api.resolve("apps", "v1", "deployments")
    labels = {"app": "web"}
    dep = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "w", "image": "x"}]},
            },
        },
    }
    api.create(deploy_rt, "default", dep)
    return int(_service(cluster, "web", "NodePort", 80)["spec"]["ports"][0]["nodePort"])


def _service(
    cluster: SimCluster, name: str, svc_type: str, port: int, protocol: str = "TCP"
) -> dict[str, Any]:
    """A Service of the ``web`` pods with one port; returns it as created."""
    svc = {
        "metadata": {"name": name},
        "spec": {
            "type": svc_type,
            "selector": {"app": "web"},
            "ports": [{"port": port, "protocol": protocol}],
        },
    }
    return cluster.api.create(cluster.api.resolve("", "v1", "services"), "default", svc)


def _scale(cluster: SimCluster, replicas: int) -> None:
    rt = cluster.api.resolve("apps", "v1", "deployments")
    dep = copy.deepcopy(cluster.api.get(rt, "default", "web"))  # get hands out the stored object
    dep["spec"]["replicas"] = replicas
    cluster.api.update(rt, "default", "web", dep)


async def _get(host: str, port: int, tls: ssl.SSLContext | None = None) -> str:
    """One HTTP GET; the whole answer, '' when the connection was closed without one, 'refused' when
    nothing listens."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls), 3)
    except ConnectionRefusedError:
        return "refused"
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.read(), 3)).decode()
    except (ConnectionResetError, ssl.SSLError):
        return ""
    finally:
        writer.close()


async def _slb_with_listener(
    sdk: Any,
    node_port: int,
    *,
    nodes: list[str],
    listener: type = CreateLoadBalancerTCPListenerRequest,
    port: int = 80,
    check: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """An SLB with one started listener (fast health checks) in front of ``nodes``: (id, address)."""
    create = CreateLoadBalancerRequest()
    create.set_LoadBalancerName("web")
    create.set_ClientToken(f"dp-{port}")
    lb = await sdk(create)
    lb_id, address = lb["LoadBalancerId"], lb["Address"]
    req = listener()
    req.set_LoadBalancerId(lb_id)
    req.set_ListenerPort(port)
    req.set_BackendServerPort(node_port)
    req.set_Bandwidth(-1)
    for name, value in {
        "healthCheckInterval": 1,
        "HealthyThreshold": 2,
        "UnhealthyThreshold": 2,
        **(check or {}),
    }.items():
        getattr(req, f"set_{name}")(value)
    await sdk(req)
    start = StartLoadBalancerListenerRequest()
    start.set_LoadBalancerId(lb_id)
    start.set_ListenerPort(port)
    await sdk(start)
    add = AddBackendServersRequest()
    add.set_LoadBalancerId(lb_id)
    add.set_BackendServers(json.dumps([{"ServerId": n, "Weight": "100"} for n in nodes]))
    await sdk(add)
    return lb_id, address


def _instances(cluster: SimCluster) -> dict[str, str]:
    """node name -> ECS instance id."""
    rt = cluster.api.resolve("", "v1", "nodes")
    nodes = cluster.api.list(rt, None)["items"]
    return {n["metadata"]["name"]: n["spec"]["providerID"].split(".", 1)[1] for n in nodes}


async def _health(sdk: Any, lb_id: str) -> dict[str, str]:
    req = DescribeHealthStatusRequest()
    req.set_LoadBalancerId(lb_id)
    got = await sdk(req)
    return {b["ServerId"]: b["ServerHealthStatus"] for b in got["BackendServers"]["BackendServer"]}


async def test_curl_the_slb_address_reaches_a_ready_node_and_follows_the_deployment(world) -> None:
    emu, cluster, sdk = world
    node_port = _deploy(cluster, replicas=2)
    instances = _instances(cluster)
    assert len(instances) == 2
    check = {"HealthCheckType": "http", "HealthCheckURI": "/healthz"}
    lb_id, address = await _slb_with_listener(sdk, node_port, nodes=sorted(instances.values()), check=check)
    require_loopback(address, "the SLB address")  # the address CreateLoadBalancer answers really answers
    assert emu.slb.public_addresses[lb_id].startswith("198.18.")  # the simulated one is kept aside
    assert emu.data_plane is not None
    [served] = emu.data_plane.listeners()
    assert (served["address"], served["listener_port"]) == (address, 80)
    port = served["bound_port"]
    assert port != 80  # mapped, as an unprivileged process must

    async def all_normal() -> bool:
        return set((await _health(sdk, lb_id)).values()) == {"normal"}

    await wait_for(all_normal, what="both backends normal")
    pages = {await _get(address, port) for _ in range(4)}
    assert all("200 OK" in p and f"region: {REGION}" in p and "cluster: member-a" in p for p in pages)
    assert {n for n in instances if any(f"node: {n}" in p for p in pages)} == set(instances)  # both serve

    # weights: twice the weight, twice the connections
    first, second = sorted(instances)
    weights = SetBackendServersRequest()
    weights.set_LoadBalancerId(lb_id)
    weights.set_BackendServers(
        json.dumps(
            [{"ServerId": instances[first], "Weight": "100"}, {"ServerId": instances[second], "Weight": "50"}]
        )
    )
    await sdk(weights)
    served_by = []
    for _ in range(6):
        page = await _get(address, port)
        served_by += [n for n in instances if f"node: {n}\n" in page]
    assert (served_by.count(first), served_by.count(second)) == (4, 2)

    # a node goes NotReady: its NodePort stops answering, the SLB marks it abnormal, traffic avoids it
    down = sorted(instances)[0]
    cluster.set_node_ready(down, False)

    async def one_abnormal() -> bool:
        return (await _health(sdk, lb_id)) == {
            instances[down]: "abnormal",
            instances[sorted(instances)[1]]: "normal",
        }

    await wait_for(one_abnormal, what="the NotReady node abnormal")
    for _ in range(4):
        page = await _get(address, port)
        assert f"node: {sorted(instances)[1]}" in page

    # the Deployment scaled to 0: no endpoints, every backend abnormal, connections get no answer
    _scale(cluster, 0)

    async def all_abnormal() -> bool:
        return set((await _health(sdk, lb_id)).values()) == {"abnormal"}

    await wait_for(all_abnormal, what="every backend abnormal")
    assert await _get(address, port) == ""
    _scale(cluster, 2)
    cluster.set_node_ready(down, True)
    await wait_for(all_normal, what="every backend normal again")
    assert "200 OK" in await _get(address, port)

    # a stopped listener does not listen at all
    stop = StopLoadBalancerListenerRequest()
    stop.set_LoadBalancerId(lb_id)
    stop.set_ListenerPort(80)
    await sdk(stop)
    assert await _get(address, port) == "refused"
    assert emu.data_plane.listeners() == []


async def test_https_listener_terminates_tls_with_the_uploaded_certificate(world) -> None:
    emu, cluster, sdk = world
    node_port = _deploy(cluster, replicas=1)
    instances = _instances(cluster)
    lb_id, address = await _slb_with_listener(sdk, node_port, nodes=sorted(instances.values()))
    cert_id = (await sdk(upload_request("www.example.com")))["ServerCertificateId"]
    https = CreateLoadBalancerHTTPSListenerRequest()
    https.set_LoadBalancerId(lb_id)
    https.set_ListenerPort(443)
    https.set_BackendServerPort(node_port)
    https.set_Bandwidth(-1)
    https.set_ServerCertificateId(cert_id)
    https.set_HealthCheckInterval(1)
    await sdk(https)
    start = StartLoadBalancerListenerRequest()
    start.set_LoadBalancerId(lb_id)
    start.set_ListenerPort(443)
    await sdk(start)
    assert emu.data_plane is not None
    port = emu.data_plane.bound_port(lb_id, 443, "https")
    assert port is not None
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the test certificate's CA is not at hand; the handshake is the point

    async def page() -> str:
        got = await _get(address, port, tls)
        return got if "200 OK" in got else ""

    assert f"region: {REGION}" in await wait_for(page, what="an HTTPS answer")


async def test_nodes_answer_on_their_own_loopback_address_only_while_ready(world) -> None:
    _, cluster, _ = world
    node_port = _deploy(cluster, replicas=1)
    rt = cluster.api.resolve("", "v1", "nodes")
    addrs = {n["metadata"]["name"]: node_address(n) for n in cluster.api.list(rt, None)["items"]}
    assert len(set(addrs.values())) == 2
    name, addr = sorted(addrs.items())[0]
    assert addr is not None

    async def page() -> str:
        got = await _get(addr, node_port)
        return got if "200 OK" in got else ""

    assert f"node: {name}" in await wait_for(page, what="the NodePort page")
    reader, writer = await asyncio.open_connection(addr, node_port)
    writer.write(b"ping\n")
    line = await asyncio.wait_for(reader.readline(), 3)
    assert f"node: {name}".encode() in line  # plain TCP: who answered, then an echo
    assert await asyncio.wait_for(reader.readline(), 3) == b"ping\n"
    writer.close()
    cluster.set_node_ready(name, False)

    async def refused() -> bool:
        return await _get(addr, node_port) == "refused"

    await wait_for(refused, what="the NotReady node's NodePort closed")


async def test_the_sandbox_never_dials_outside_loopback(emu: AliyunEmulator) -> None:
    with pytest.raises(NonLoopbackTarget):
        await probe_tcp("10.0.0.1", 80, 1)
    with pytest.raises(NonLoopbackTarget):
        await probe_http("192.168.0.10", 30080, 1)
    with pytest.raises(NonLoopbackTarget):
        await open_backend("198.18.1.1", 80)
    with pytest.raises(NonLoopbackTarget):
        await open_backend("localhost", 80)  # names are not resolved either
    with pytest.raises(ValueError, match=r"outside 127\.0\.0\.0/8"):
        emu.register_instance(REGION, "i-bp1remote", address="47.96.0.1")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    try:  # loopback is dialled
        assert await probe_tcp("127.0.0.1", server.sockets[0].getsockname()[1], 2)
    finally:
        server.close()


def test_port_policy_maps_privileged_ports_as_configured() -> None:
    assert PortPolicy(map_privileged=True, offset=8000).wanted(80) == 8080
    assert PortPolicy(map_privileged=True, offset=8000).wanted(8080) == 8080  # unprivileged: as is
    assert PortPolicy(map_privileged=True).wanted(443) == 0  # no offset: an ephemeral port
    assert PortPolicy(map_privileged=False).wanted(80) == 80
    assert PortPolicy(map_privileged=True, offset=65500).wanted(443) == 0  # beyond 65535: ephemeral


async def test_a_taken_listener_port_is_served_on_another_port() -> None:
    emu = AliyunEmulator(domains=[])
    emu.attach_data_plane(block=77, port_policy=PortPolicy(map_privileged=False), interval_scale=0.1)
    await emu.start(dns_port=None)
    acs = make_acs(emu, region=REGION)
    taken = socket.socket()
    try:
        taken.bind(("127.77.1.1", 0))  # where this data plane's first load balancer will answer
        taken.listen()
        port = taken.getsockname()[1]
        create = CreateLoadBalancerRequest()
        create.set_ClientToken("taken-1")
        lb = json.loads(await asyncio.to_thread(acs.do_action_with_exception, create))
        assert lb["Address"] == "127.77.1.1"
        listener = CreateLoadBalancerTCPListenerRequest()
        listener.set_LoadBalancerId(lb["LoadBalancerId"])
        listener.set_ListenerPort(port)
        listener.set_BackendServerPort(30080)
        listener.set_Bandwidth(-1)
        await asyncio.to_thread(acs.do_action_with_exception, listener)
        start = StartLoadBalancerListenerRequest()
        start.set_LoadBalancerId(lb["LoadBalancerId"])
        start.set_ListenerPort(port)
        await asyncio.to_thread(acs.do_action_with_exception, start)
        assert emu.data_plane is not None
        [served] = emu.data_plane.listeners()
        assert served["listener_port"] == port
        assert served["bound_port"] not in (0, port)
        assert "bound_port" in emu.state()["slb_data_plane"][0]
    finally:
        taken.close()
        await emu.stop()


async def _udp(host: str, port: int, data: bytes) -> bytes | None:
    """One datagram there and the answer, or None after a second of silence (or a refusal)."""
    got: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, answer: bytes, addr: Any) -> None:
            if not got.done():
                got.set_result(answer)

        def error_received(self, exc: Exception) -> None:
            if not got.done():
                got.set_result(None)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Client, remote_addr=(host, port))
    try:
        transport.sendto(data)
        try:
            return await asyncio.wait_for(got, 1.0)
        except TimeoutError:
            return None
    finally:
        transport.close()


async def test_udp_listener_forwards_datagrams_and_checks_with_icmp(world) -> None:
    emu, cluster, sdk = world
    _deploy(cluster, replicas=1)
    node_port = int(_service(cluster, "dns", "NodePort", 53, "UDP")["spec"]["ports"][0]["nodePort"])
    instances = _instances(cluster)
    lb_id, address = await _slb_with_listener(
        sdk,
        node_port,
        nodes=sorted(instances.values()),
        listener=CreateLoadBalancerUDPListenerRequest,
        port=53,
    )
    assert emu.data_plane is not None
    port = emu.data_plane.bound_port(lb_id, 53, "udp")
    assert port is not None

    async def statuses() -> set[str]:
        return set((await _health(sdk, lb_id)).values())

    async def answered() -> bytes | None:
        if await statuses() != {"normal"}:
            return None
        return await _udp(address, port, b"query")

    answer = await wait_for(answered, what="a UDP answer through the SLB")
    assert f"region: {REGION}".encode() in answer
    assert answer.endswith(b"query")
    _scale(cluster, 0)  # the NodePorts close: ICMP port unreachable, every backend abnormal

    async def all_abnormal() -> bool:
        return await statuses() == {"abnormal"}

    await wait_for(all_abnormal, what="every UDP backend abnormal")
    assert await _udp(address, port, b"query") is None


async def test_a_cloud_controller_load_balancer_answers_on_loopback(world) -> None:
    _, cluster, _ = world
    _deploy(cluster, replicas=1)
    _service(cluster, "web-lb", "LoadBalancer", 8080)
    svc_rt = cluster.api.resolve("", "v1", "services")

    async def ingress() -> str | None:
        got = cluster.api.get(svc_rt, "default", "web-lb")
        found = ((got.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return str(found[0]["ip"]) if found else None

    ip = await wait_for(ingress, what="the ingress address")
    require_loopback(ip, "the simulated cloud controller's address")  # never a public-looking one

    async def page() -> str:
        got = await _get(ip, 8080)
        return got if "200 OK" in got else ""

    answer = await wait_for(page, what="the LoadBalancer Service's page")
    assert "service: default/web-lb" in answer
    assert f"region: {REGION}" in answer
