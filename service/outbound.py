"""Where deliveries may connect (SPEC section 14): a pure decision per IP address.

Handler URLs come from tenants, so a delivery is a request the tenant aims.
The dispatcher resolves the URL's host itself, asks ``OutboundPolicy.refusal``
about every address, and connects only to an address that passed (see
service/delivery.py), so a name that resolves differently later cannot slip
through. The rule, first match wins:

1. Never: link-local (169.254.0.0/16, fe80::/10 — cloud metadata lives
   there), multicast (224.0.0.0/4, ff00::/8), unspecified/"this network"
   (0.0.0.0/8, ::) and broadcast (255.255.255.255). No setting changes this.
2. Refused: an address in WF_HANDLER_DENY_NETWORKS.
3. Allowed: an address in WF_HANDLER_ALLOW_NETWORKS.
4. Single-tenant mode: allowed (one operator owns every handler).
5. Multi-tenant mode: loopback (127.0.0.0/8, ::1) refused — it is the
   service's own pod; any other address is allowed only when it equals the
   source address the registration came from (the pod registering its own
   endpoints), otherwise refused.

IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NEVER: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), why) for cidr, why in (
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("fe80::/10", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("255.255.255.255/32", "broadcast"),
    )
)


def parse_networks(cidrs: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    """CIDR strings → networks; a bad entry is a start-up error naming the setting."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {cidr!r} is not a CIDR network ({exc})") from None
    return tuple(networks)


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
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

    def refusal(self, address: IPAddress | str, source: IPAddress | str | None = None) -> str | None:
        """None when a delivery may connect to ``address``; otherwise the reason it may not.

        ``source`` is the address the handler registration came from.
        """
        addr = _plain(ipaddress.ip_address(address))
        for network, why in _NEVER:
            if _within(addr, (network,)):
                return f"{addr} is {why}: never a delivery target"
        denied = _within(addr, self.deny)
        if denied is not None:
            return f"{addr} is in WF_HANDLER_DENY_NETWORKS ({denied})"
        if _within(addr, self.allow) is not None or not self.multi_tenant:
            return None
        if addr.is_loopback:
            return f"{addr} is loopback: not a delivery target in multi-tenant mode"
        if source is not None and addr == _plain(ipaddress.ip_address(source)):
            return None
        return (f"{addr} is not the address the handler registered from ({source or 'unknown'}); "
                "add its network to WF_HANDLER_ALLOW_NETWORKS to allow it")

    def describe(self) -> str:
        allow = ", ".join(map(str, self.allow)) or "none"
        deny = ", ".join(map(str, self.deny)) or "none"
        default = ("only the registering address, never loopback" if self.multi_tenant
                   else "any address outside the never-ranges")
        return f"allow {allow}; deny {deny}; otherwise {default}"
