"""Which network addresses a feed fetch may connect to (pure: no I/O).

A feed URL is user input, and redirects are server input, so by default a fetch refuses hosts
that resolve to addresses inside the machine or its network: loopback, private, link-local,
shared (CGNAT), unique-local IPv6, multicast, unspecified, reserved, and cloud metadata
endpoints. The `allow_hosts:` list in sources.yaml lifts the refusal for named host names,
single addresses or CIDR ranges.

IPv6 addresses that embed an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96,
6to4 2002::/16) are judged by the embedded IPv4 address, so ::ffff:10.0.0.5 is as private
as 10.0.0.5.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first matching range names the reason. Metadata endpoints come before
# the ranges that contain them so the message says what the address really is.
_V4_RANGES: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("169.254.169.254/32"), "cloud metadata"),
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "reserved"),  # documentation (TEST-NET-1)
    (_V4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "reserved"),  # benchmarking
    (_V4("198.51.100.0/24"), "reserved"),  # documentation (TEST-NET-2)
    (_V4("203.0.113.0/24"), "reserved"),  # documentation (TEST-NET-3)
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),  # includes 255.255.255.255 broadcast
)

_V6_RANGES: tuple[tuple[IPNetwork, str], ...] = (
    (_V6("fd00:ec2::254/128"), "cloud metadata"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "private"),  # deprecated site-local
    (_V6("ff00::/8"), "multicast"),
    (_V6("64:ff9b:1::/48"), "reserved"),  # local-use NAT64
    (_V6("100::/64"), "reserved"),  # discard-only
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments (incl. Teredo)
    (_V6("2001:db8::/32"), "reserved"),  # documentation
)
# Everything outside global unicast 2000::/3 (e.g. the deprecated IPv4-compatible ::a.b.c.d).
_V6_GLOBAL_UNICAST = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")


def parse_address(text: str) -> IPAddress | None:
    """An IP address from a host string ("10.0.0.5", "::1", "[::1]", "fe80::1%eth0"), else None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]  # drop an IPv6 zone index
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def format_address(address: IPAddress) -> str:
    """The usual text form; IPv4-mapped IPv6 shown as ::ffff:a.b.c.d (as people write it)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv4-mapped, NAT64 or 6to4 IPv6 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def classify(address: IPAddress | str) -> str | None:
    """Why an address must not be fetched by default ("private", "loopback", ...), or None
    for an ordinary public address."""
    addr = parse_address(address) if isinstance(address, str) else address
    if addr is None:
        raise ValueError(f"not an IP address: {address!r}")
    inner = embedded_ipv4(addr)
    if inner is not None:
        return classify(inner)
    if isinstance(addr, ipaddress.IPv4Address):
        for net, reason in _V4_RANGES:
            if addr in net:
                return reason
        return None
    for net, reason in _V6_RANGES:
        if addr in net:
            return reason
    return None if addr in _V6_GLOBAL_UNICAST else "reserved"


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


@dataclass(frozen=True, slots=True)
class Refusal:
    host: str
    address: str
    reason: str

    @property
    def message(self) -> str:
        hint = "(add it to allow_hosts to allow)"
        if parse_address(self.host) is not None:
            return f"refused: {self.address} is a {self.reason} address {hint}"
        return f"refused: {self.host} resolves to {self.reason} address {self.address} {hint}"


@dataclass(frozen=True, slots=True)
class AddressCheck:
    """The verdict on one host: the addresses that may be used, and why others may not."""

    allowed: tuple[str, ...]
    refused: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return bool(self.allowed)


@dataclass(frozen=True, slots=True)
class AllowList:
    """The parsed `allow_hosts:` list.

    Entries are exact host names ("feeds.intranet"), wildcard names ("*.intranet": any
    subdomain), single IP addresses ("127.0.0.1", "::1") or CIDR ranges ("127.0.0.0/8").
    A named host may use any address it resolves to; an address or range allows exactly
    those addresses, whichever host name led to them.
    """

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ValueError(f"allow_hosts: not a valid CIDR range: {raw!r}") from None
                continue
            addr = parse_address(entry)
            if addr is not None:
                networks.append(ipaddress.ip_network(addr))
            elif entry.startswith("*."):
                suffixes.append(normalise_host(entry[1:]))
            else:
                names.add(normalise_host(entry))
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def allows_host(self, host: str) -> bool:
        name = normalise_host(host)
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        return any(
            a in net for a in candidates for net in self.networks if a.version == net.version
        )

    def check(self, host: str, addresses: Iterable[str]) -> AddressCheck:
        """Split the addresses `host` resolved to into usable and refused ones."""
        host_allowed = self.allows_host(host)
        allowed: list[str] = []
        refused: list[Refusal] = []
        for text in addresses:
            addr = parse_address(text)
            if addr is None:
                refused.append(Refusal(host, text, "unparseable"))
                continue
            reason = None if host_allowed or self.allows_address(addr) else classify(addr)
            if reason is None:
                if format_address(addr) not in allowed:
                    allowed.append(format_address(addr))
            else:
                refused.append(Refusal(host, format_address(addr), reason))
        return AddressCheck(tuple(allowed), tuple(refused))


def scheme_error(scheme: str) -> str | None:
    """A one-line message when a URL scheme may not be fetched, else None."""
    if scheme.lower() in ALLOWED_SCHEMES:
        return None
    shown = scheme or "(none)"
    return f"unsupported URL scheme {shown!r}: only http:// and https:// feeds can be fetched"
