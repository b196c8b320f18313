"""Where deliveries may connect (SPEC section 14): a pure decision per IP address.

Handler URLs come from tenants, so a delivery is a request the tenant aims.
The dispatcher resolves the URL's host itself, asks ``OutboundPolicy.judge``
about every address, and connects only to an address that passed (see
service/delivery.py), so a name that resolves differently later cannot slip
through. The rule, first match wins (each has a name that refusals quote):

1. Never: link-local (169.254.0.0/16, fe80::/10 — cloud metadata lives
   there), multicast (224.0.0.0/4, ff00::/8), unspecified/"this network"
   (0.0.0.0/8, ::) and broadcast (255.255.255.255). No setting changes this.
   Rules never-link-local, never-multicast, never-unspecified, never-broadcast.
2. Refused: an address in WF_HANDLER_DENY_NETWORKS (rule deny-list).
3. Allowed: an address in WF_HANDLER_ALLOW_NETWORKS. This bypasses the two
   multi-tenant rules below, so allow-lists should be narrow (a /32 of a
   shared ingress, not the cluster's pod range).
4. Single-tenant mode: allowed (one operator owns every handler).
5. Multi-tenant mode: loopback (127.0.0.0/8, ::1) refused — it is the
   service's own pod (rule no-loopback-in-multi-tenant); any other address is
   allowed only when it equals the source address the registration came from
   (the pod registering its own endpoints), otherwise refused (rule
   own-address-only).

IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address,
and legacy IPv4 spellings (``127.1``, ``2130706433``, ``0x7f.0.0.1``) as the
address they spell, so no spelling of an address slips past a rule.

Refusals name the rule, never the address: a stored reason must not tell a
tenant what an internal name resolved to. Registration (POST /handlers)
applies the same rules to endpoints whose host is a literal address
(``registration_refusal``); names are judged at every delivery.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NEVER: tuple[tuple[IPNetwork, str, str], ...] = tuple(
    (ipaddress.ip_network(cidr), rule, what) for cidr, rule, what in (
        ("169.254.0.0/16", "never-link-local", "link-local address (cloud metadata)"),
        ("fe80::/10", "never-link-local", "link-local address"),
        ("224.0.0.0/4", "never-multicast", "multicast address"),
        ("ff00::/8", "never-multicast", "multicast address"),
        ("0.0.0.0/8", "never-unspecified", "unspecified address"),
        ("::/128", "never-unspecified", "unspecified address"),
        ("255.255.255.255/32", "never-broadcast", "broadcast address"),
    )
)
# What inet_aton (and so getaddrinfo) reads as an IPv4 address: 1 to 4 decimal, octal or hex parts.
_LEGACY_IPV4 = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)(\.(0[xX][0-9a-fA-F]*|[0-9]+)){0,3}$")


@dataclass(frozen=True)
class Refusal:
    """Why an address is not a delivery target: the rule's name and what the address is, never the address."""

    rule: str
    what: str

    def __str__(self) -> str:
        return f"outbound policy: {self.what} (rule: {self.rule})"


def parse_networks(cidrs: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    """CIDR strings → networks; a bad entry is a start-up error naming the setting."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {cidr!r} is not a CIDR network ({exc})") from None
    return tuple(networks)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells (IPv4, IPv6 with or without zone, legacy IPv4 forms), or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:  # fe80::1%eth0 is judged as fe80::1
            return ipaddress.IPv6Address(address.packed)
    return address


def _within(address: IPAddress, networks: Iterable[IPNetwork]) -> IPNetwork | None:
    for network in networks:
        if address.version == network.version and address in network:
            return network
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    multi_tenant: bool
    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_lists(cls, multi_tenant: bool, allow: Iterable[str], deny: Iterable[str]) -> OutboundPolicy:
        return cls(multi_tenant, parse_networks(allow, "WF_HANDLER_ALLOW_NETWORKS"),
                   parse_networks(deny, "WF_HANDLER_DENY_NETWORKS"))

    def judge(self, address: IPAddress | str, source: IPAddress | str | None = None) -> Refusal | None:
        """None when a delivery may connect to ``address``; otherwise the rule that refuses it.

        ``source`` is the address the handler registration came from.
        """
        addr = _plain(ipaddress.ip_address(address))
        for network, rule, what in _NEVER:
            if _within(addr, (network,)):
                return Refusal(rule, what)
        if _within(addr, self.deny) is not None:
            return Refusal("deny-list", "address in WF_HANDLER_DENY_NETWORKS")
        if _within(addr, self.allow) is not None or not self.multi_tenant:
            return None
        if addr.is_loopback:
            return Refusal("no-loopback-in-multi-tenant", "loopback address")
        if source is not None and addr == _plain(ipaddress.ip_address(source)):
            return None
        return Refusal("own-address-only", "not the registering pod's own address; "
                                           "WF_HANDLER_ALLOW_NETWORKS can allow its network")

    def refusal(self, address: IPAddress | str, source: IPAddress | str | None = None) -> str | None:
        """``judge`` as the reason text a delivery stores (None: allowed)."""
        refused = self.judge(address, source)
        return None if refused is None else str(refused)

    def describe(self) -> str:
        allow = ", ".join(map(str, self.allow)) or "none"
        deny = ", ".join(map(str, self.deny)) or "none"
        default = ("only the registering address, never loopback" if self.multi_tenant
                   else "any address outside the never-ranges")
        return f"allow {allow}; deny {deny}; otherwise {default}"


def registration_refusal(policy: OutboundPolicy, endpoints: Mapping[str, str | None],
                         source: str | None) -> tuple[str, Refusal] | None:
    """The first endpoint (its key) whose host is a literal address the policy refuses, with the rule.

    Hosts that are names pass here: what they resolve to is judged at each delivery.
    """
    for key, raw in endpoints.items():
        if raw is None:
            continue
        try:
            host = URL(raw).raw_host
        except (ValueError, TypeError):
            continue  # the URL's shape is the request schema's and SQL's business
        address = literal_address(host) if host else None
        refused = None if address is None else policy.judge(address, source)
        if refused is not None:
            return key, refused
    return None
