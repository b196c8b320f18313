"""Deliveries cannot be aimed (SPEC section 14). Addresses outside loopback
are judged by the policy function alone — nothing here ever connects to
them; end-to-end checks use loopback handlers only."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from service.delivery import Lookup, Refused, resolve_target, sanitised
from service.outbound import OutboundPolicy, literal_address, registration_refusal
from service.resolver import Resolver

from .k8s_fake import Cluster, FakeKubernetes, cluster, fake_k8s, multi_tenant_env
from .pgw import Service, create_database, db_url, drop_database
from .queue_support import FAST_QUEUE_ENV, HandlerServer, handler_server, new_app, queue_service, sql
from .tenants import app_client, new_bound_app

__all__ = ["cluster", "fake_k8s", "handler_server", "queue_service"]

MULTI = OutboundPolicy.from_lists(True, [], [])
SINGLE = OutboundPolicy.from_lists(False, [], [])
EVERYTHING = OutboundPolicy.from_lists(True, ["0.0.0.0/0", "::/0"], [])


@pytest.mark.parametrize("address", [
    "169.254.169.254",  # AWS / GCP / Azure metadata
    "169.254.170.2",  # ECS task metadata
    "fe80::a9fe:a9fe",
    "::ffff:169.254.169.254",  # IPv4-mapped form of the metadata address
    "224.0.0.1", "239.255.255.250", "ff02::1",
    "0.0.0.0", "0.1.2.3", "::", "255.255.255.255",
])
def test_never_ranges_are_refused_whatever_the_allow_list(address: str) -> None:
    for policy in (MULTI, SINGLE, EVERYTHING):
        assert policy.refusal(address, source=address) is not None, (policy, address)


def test_loopback_only_in_single_tenant_mode_or_when_allowed() -> None:
    for address in ("127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"):
        assert "loopback" in (MULTI.refusal(address, source=address) or "")
        assert SINGLE.refusal(address) is None
        assert OutboundPolicy.from_lists(True, ["127.0.0.0/8", "::1/128"], []).refusal(address) is None


def test_multi_tenant_default_is_the_registering_address() -> None:
    assert MULTI.refusal("10.1.2.3", source="10.1.2.3") is None
    assert MULTI.refusal("10.1.2.4", source="10.1.2.3") is not None
    assert MULTI.refusal("10.1.2.3", source=None) is not None, "an unknown source allows nothing"
    assert MULTI.refusal("fd00:ec2::254", source="10.1.2.3") is not None  # AWS metadata over IPv6 (not link-local)
    assert MULTI.refusal("::ffff:10.1.2.3", source="10.1.2.3") is None
    widened = OutboundPolicy.from_lists(True, ["10.0.0.0/8"], [])
    assert widened.refusal("10.9.9.9", source="10.1.2.3") is None
    assert widened.refusal("192.168.1.1", source="10.1.2.3") is not None


def test_deny_list_wins() -> None:
    narrowed = OutboundPolicy.from_lists(False, ["10.0.0.0/8"], ["10.0.5.0/24"])
    assert narrowed.refusal("10.0.5.9") is not None
    assert narrowed.refusal("10.0.6.9") is None
    assert OutboundPolicy.from_lists(True, [], ["10.1.2.3/32"]).refusal("10.1.2.3", source="10.1.2.3") is not None


def test_bad_networks_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="WF_HANDLER_ALLOW_NETWORKS"):
        OutboundPolicy.from_lists(True, ["10.0.0.0/33"], [])


@pytest.fixture
async def lookup() -> AsyncIterator[Lookup]:
    resolver = Resolver(timeout=5.0, total=4, per_app=2)
    await resolver.open()
    yield functools.partial(resolver.resolve, "app-1")
    await resolver.close()


async def test_targets_are_checked_before_any_connection(lookup: Lookup) -> None:
    # IP literals are judged without DNS; names are resolved (localhost: from the hosts file).
    with pytest.raises(Refused, match="link-local") as refused:
        await resolve_target("http://169.254.169.254/latest/meta-data/", "169.254.169.254", EVERYTHING, lookup)
    assert refused.value.outcome == "failed"
    with pytest.raises(Refused, match="loopback") as refused:
        await resolve_target("http://localhost:3000/.well-known/workflow/v1/flow", "127.0.0.1", MULTI, lookup)
    assert refused.value.reason == "outbound policy: loopback address (rule: no-loopback-in-multi-tenant)", (
        "the reason names the rule, never what the name resolved to")
    with pytest.raises(Refused):
        await resolve_target("http://user:pw@127.0.0.1/x", None, SINGLE, lookup)
    target = await resolve_target("http://localhost:3000/flow?x=1", None, SINGLE, lookup)
    assert target.url.host in ("127.0.0.1", "::1") and target.url.port == 3000 and target.url.path_qs == "/flow?x=1"
    assert target.host == "localhost:3000" and target.server_hostname == "localhost"
    literal = await resolve_target("https://127.0.0.1:8443/flow", None, SINGLE, lookup)
    assert (str(literal.url), literal.server_hostname) == ("https://127.0.0.1:8443/flow", None)


@pytest.mark.parametrize(("host", "address"), [
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"), ("[fe80::1%25eth0]", None), ("0251.0376.0251.0376", "169.254.169.254"),
])
async def test_every_spelling_of_an_address_is_judged_as_that_address(host: str, address: str | None,
                                                                      lookup: Lookup) -> None:
    """Legacy IPv4 forms never go to DNS (which may read them as addresses): they are judged as what they spell."""
    assert literal_address(host.strip("[]").replace("%25", "%")) is not None
    with pytest.raises(Refused, match=r"rule: (no-loopback-in-multi-tenant|never-link-local)") as refused:
        await resolve_target(f"http://{host}:3000/flow", "10.1.2.3", MULTI, lookup)
    assert address is None or address not in refused.value.reason


async def test_an_unresolvable_name_is_a_failed_attempt_without_an_address(lookup: Lookup) -> None:
    with pytest.raises(Refused, match="name resolution failed") as refused:
        await resolve_target("http://handler.invalid:3000/flow", None, SINGLE, lookup)
    assert refused.value.outcome == "failed", "a lookup that fails spends an attempt, so the message can dead-letter"


def test_refusals_name_the_rule_not_the_address() -> None:
    cases = {
        ("169.254.169.254", MULTI): "never-link-local", ("ff02::1", SINGLE): "never-multicast",
        ("0.0.0.0", SINGLE): "never-unspecified", ("255.255.255.255", EVERYTHING): "never-broadcast",
        ("127.0.0.1", MULTI): "no-loopback-in-multi-tenant", ("10.1.2.4", MULTI): "own-address-only",
    }
    for (address, policy), rule in cases.items():
        refusal = policy.judge(address, source="10.1.2.3")
        assert refusal is not None and refusal.rule == rule, (address, refusal)
        assert address not in str(refusal) and "10.1.2.3" not in str(refusal)
    denied = OutboundPolicy.from_lists(False, [], ["10.1.0.0/16"]).judge("10.1.2.3")
    assert denied is not None and denied.rule == "deny-list" and "10.1" not in str(denied)


def test_registration_judges_literal_hosts_only() -> None:
    endpoints = {"workflow": "http://pod.ns.svc:3000/flow", "step": "http://[::ffff:127.0.0.1]:3000/step",
                 "webhook": None}
    refused = registration_refusal(MULTI, endpoints, "10.1.2.3")
    assert refused is not None and refused[0] == "step" and refused[1].rule == "no-loopback-in-multi-tenant"
    assert registration_refusal(MULTI, {"workflow": "http://10.1.2.3:3000/flow"}, "10.1.2.3") is None
    assert registration_refusal(MULTI, {"workflow": "http://localhost:3000/flow"}, "10.1.2.3") is None, (
        "names are judged at delivery")
    refused = registration_refusal(SINGLE, {"workflow": "http://169.254.169.254/x"}, "127.0.0.1")
    assert refused is not None and refused[1].rule == "never-link-local"


def test_stored_reasons_are_short_and_plain() -> None:
    reason = sanitised("HTTP 500 \r\nSet-Cookie: x\x00" + "é" * 500)
    assert len(reason) <= 200 and all(" " <= ch <= "~" for ch in reason)
    scrubbed = sanitised("HTTP 502 upstream 10.3.4.5 or fd00:ec2::254 or ::ffff:10.1.1.1 failed")
    assert scrubbed == "HTTP 502 upstream <address> or <address> or <address> failed", scrubbed


# -- end to end, loopback only -----------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_cluster(template_db: str, fake_k8s: FakeKubernetes, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Cluster]:
    """Multi-tenant pg-workflow with the default outbound policy (no allow-list)."""
    sa_dir: Path = tmp_path_factory.mktemp("serviceaccount")
    fake_k8s.write_service_account(sa_dir)
    name = create_database(template_db)
    service = Service(db_url(name), env=multi_tenant_env(fake_k8s, sa_dir, **FAST_QUEUE_ENV))
    try:
        yield Cluster(fake_k8s, service.start(), sa_dir)
    finally:
        service.stop()
        drop_database(name)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _dead_letters(client: aiohttp.ClientSession) -> list[dict[str, object]]:
    async with client.get("dead-letters") as resp:
        assert resp.status == 200
        return (await resp.json())["data"]


async def _deliver_one(cluster: Cluster, http: aiohttp.ClientSession, endpoints: dict[str, str]) -> dict[str, object]:
    """Registers ``endpoints``, enqueues one step message, waits for it to be dead-lettered; returns it."""
    app_id = await new_bound_app(http, cluster)
    async with app_client(cluster, app_id, "tok-a") as client:
        async with client.post("handlers", json={"podId": "pod-1", "deploymentVersion": "v1",
                                                 "endpoints": endpoints}) as resp:
            assert resp.status == 201, await resp.text()
        async with client.post("queue", json={"queueName": "__wkf_step_s", "message": {"workflowRunId": "wrun_x"},
                                              "deploymentId": "v1"}) as resp:
            assert resp.status == 201
        dead: list[dict[str, object]] = []
        deadline = asyncio.get_running_loop().time() + 15
        while not dead and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            dead = await _dead_letters(client)
        assert len(dead) == 1, "the message should fail and be dead-lettered"
        return dead[0]


async def test_loopback_is_refused_in_multi_tenant_mode(strict_cluster: Cluster, http: aiohttp.ClientSession,
                                                        handler_server: HandlerServer) -> None:
    """A name that resolves to loopback passes registration and is refused at delivery, naming the rule only."""
    by_name = {key: url.replace("127.0.0.1", "localhost") for key, url in handler_server.endpoints.items()}
    dead = await _deliver_one(strict_cluster, http, by_name)
    assert dead["lastError"] == "outbound policy: loopback address (rule: no-loopback-in-multi-tenant)"
    assert handler_server.deliveries == [], "nothing reached the handler"


async def test_control_characters_in_handler_urls_are_400(cluster: Cluster, http: aiohttp.ClientSession) -> None:
    app_id = await new_bound_app(http, cluster)
    async with app_client(cluster, app_id, "tok-a") as client:
        # Control characters and other schemes stop at the request schema (WF_BAD_REQUEST);
        # userinfo passes the URL's shape and is refused by the SQL handler policy.
        for bad, code in (("http://127.0.0.1:1/flow\r\nX-Injected: 1", "WF_BAD_REQUEST"),
                          ("http://evil@127.0.0.1:1/flow", "WF_INVALID_HANDLER"),
                          ("file:///etc/passwd", "WF_BAD_REQUEST")):
            async with client.post("handlers", json={"podId": "p", "endpoints": {
                    "workflow": bad, "step": "http://127.0.0.1:1/step"}}) as resp:
                body = await resp.json()
                assert (resp.status, body["code"]) == (400, code), body
                assert "endpoints.workflow" in body["message"]


async def test_redirects_are_not_followed(cluster: Cluster, http: aiohttp.ClientSession,
                                          handler_server: HandlerServer) -> None:
    """A loopback handler answers 307 towards another loopback port: the dispatcher does not go there."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(handler_server.endpoints["step"], text="secret body")

    app = web.Application()
    app.router.add_post("/{tail:.*}", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        base = f"http://127.0.0.1:{port}/.well-known/workflow/v1"
        dead = await _deliver_one(cluster, http, {"workflow": f"{base}/flow", "step": f"{base}/step"})
    finally:
        await runner.cleanup()
    assert str(dead["lastError"]).startswith("HTTP 307") and "not followed" in str(dead["lastError"])
    assert "secret body" not in str(dead["lastError"]), "answers are not stored"
    assert handler_server.deliveries == []


# -- registration: what a literal address already shows is refused at once ----------------------


def _stored_handlers(service: Service, app_id: str) -> list[tuple[object, ...]]:
    return sql(service.database_url, "SELECT pod_id, workflow_url, step_url FROM workflow.handlers WHERE app_id = %s",
               app_id)


async def _register(client: aiohttp.ClientSession, endpoints: dict[str, str], pod: str = "pod-1"
                    ) -> tuple[int, dict[str, object]]:
    async with client.post("handlers", json={"podId": pod, "deploymentVersion": "v1", "endpoints": endpoints}) as resp:
        return resp.status, await resp.json()


def _assert_refused(status: int, body: dict[str, object], endpoint: str, rule: str) -> None:
    assert (status, body["code"]) == (400, "WF_BAD_REQUEST"), body
    assert body["meta"] == {"field": f"endpoints.{endpoint}", "rule": rule}, body
    message = str(body["message"])
    assert message.startswith(f"endpoints.{endpoint}: outbound policy: ") and f"(rule: {rule})" in message, message


async def test_literal_loopback_is_400_at_registration_in_multi_tenant_mode(
        strict_cluster: Cluster, http: aiohttp.ClientSession, handler_server: HandlerServer) -> None:
    app_id = await new_bound_app(http, strict_cluster)
    async with app_client(strict_cluster, app_id, "tok-a") as client:
        status, body = await _register(client, handler_server.endpoints)
        _assert_refused(status, body, "workflow", "no-loopback-in-multi-tenant")
        mapped = {"workflow": "http://localhost:1/flow", "step": "http://[::ffff:127.0.0.1]:1/step"}
        status, body = await _register(client, mapped)
        _assert_refused(status, body, "step", "no-loopback-in-multi-tenant")
        status, body = await _register(client, {"workflow": "http://127.1:1/flow", "step": "http://localhost:1/s"})
        _assert_refused(status, body, "workflow", "no-loopback-in-multi-tenant")
    assert _stored_handlers(strict_cluster.service, app_id) == [], "nothing was stored"


@pytest.mark.parametrize(("url", "rule"), [
    ("http://169.254.169.254/latest/meta-data/", "never-link-local"),
    ("http://[fe80::1]:3000/flow", "never-link-local"),
    ("http://[::ffff:169.254.169.254]/x", "never-link-local"),
    ("http://224.0.0.1:3000/flow", "never-multicast"),
    ("http://0.0.0.0:3000/flow", "never-unspecified"),
])
async def test_never_ranges_are_400_at_registration_in_any_mode(
        url: str, rule: str, cluster: Cluster, queue_service: Service, http: aiohttp.ClientSession) -> None:
    """Refused before anything is stored, so nothing ever connects to these addresses."""
    app_id = await new_bound_app(http, cluster)
    async with app_client(cluster, app_id, "tok-a") as client:  # multi-tenant, loopback allow-listed
        status, body = await _register(client, {"workflow": "http://127.0.0.1:1/flow", "step": url})
        _assert_refused(status, body, "step", rule)
    assert _stored_handlers(cluster.service, app_id) == []
    single_app = new_app(queue_service.database_url)  # single-tenant mode
    async with aiohttp.ClientSession(base_url=f"{queue_service.url}/api/v1/apps/{single_app}/") as client:
        status, body = await _register(client, {"workflow": url, "step": "http://127.0.0.1:1/step"})
        _assert_refused(status, body, "workflow", rule)
    assert _stored_handlers(queue_service, single_app) == []


async def test_a_foreign_literal_is_400_and_a_refused_refresh_changes_nothing(
        cluster: Cluster, http: aiohttp.ClientSession) -> None:
    """Multi-tenant mode allows only the registering pod's own address (here 127.0.0.1, also allow-listed).

    192.0.2.1 (TEST-NET-1, documentation only) is refused at registration: nothing is stored or enqueued,
    so nothing ever connects to it.
    """
    app_id = await new_bound_app(http, cluster)
    good = {"workflow": "http://127.0.0.1:1/flow", "step": "http://127.0.0.1:1/step"}
    async with app_client(cluster, app_id, "tok-a") as client:
        assert (await _register(client, good))[0] == 201
        status, body = await _register(client, {"workflow": "http://192.0.2.1:3000/flow",
                                                "step": "http://127.0.0.1:1/step"})
        _assert_refused(status, body, "workflow", "own-address-only")
        assert "192.0.2.1" not in str(body["message"])
        status, body = await _register(client, {**good, "webhook": "http://[fe80::a9fe:a9fe]/hook"})
        _assert_refused(status, body, "webhook", "never-link-local")
        status, body = await _register(client, {"workflow": "http://192.0.2.1:3000/flow",
                                                "step": "http://127.0.0.1:1/step"}, pod="pod-2")
        _assert_refused(status, body, "workflow", "own-address-only")
    assert _stored_handlers(cluster.service, app_id) == [("pod-1", good["workflow"], good["step"])], (
        "the refused refresh left pod-1 as it was, and pod-2 was not stored")


async def test_a_name_falls_back_to_its_next_allowed_address(queue_service: Service, handler_server: HandlerServer,
                                                             http: aiohttp.ClientSession) -> None:
    """``localhost`` resolves to ::1 and 127.0.0.1; the handler listens on 127.0.0.1 only and still gets it."""
    app_id = new_app(queue_service.database_url)
    by_name = {key: url.replace("127.0.0.1", "localhost") for key, url in handler_server.endpoints.items()}
    async with aiohttp.ClientSession(base_url=f"{queue_service.url}/api/v1/apps/{app_id}/") as client:
        assert (await _register(client, by_name))[0] == 201
        async with client.post("queue", json={"queueName": "__wkf_step_s", "message": {"workflowRunId": "wrun_l"},
                                              "deploymentId": "v1"}) as resp:
            assert resp.status == 201
    [delivery] = await handler_server.wait_for(1, within=10)
    assert delivery.attempt == 1, "the address that refused the connection cost no attempt"


def test_example_allow_lists_keep_the_own_address_rule() -> None:
    """The README's and the Helm values' examples must not widen the allow-list to a cluster-sized range: every
    example CIDR near WF_HANDLER_ALLOW_NETWORKS is a single host (or loopback, for local testing), and both say
    that an allowed network bypasses the own-address rule."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `WF_HANDLER_ALLOW_NETWORKS`"))
    values = (root / "deploy" / "helm" / "pg-workflow" / "values.yaml").read_text()
    comment = values[:values.index("handlerAllowNetworks:")].rsplit("# --", 1)[1]
    for text in (row, comment):
        assert "bypass" in text, text
        for cidr in re.findall(r"[0-9a-f:.]+/\d+", text):
            network = ipaddress.ip_network(cidr, strict=False)
            assert network.is_loopback or network.num_addresses == 1, f"{cidr} is too wide an example"
