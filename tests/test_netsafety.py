"""netsafety: which addresses a fetch may use (pure; no network)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newswatch.fetch.netsafety import (
    AllowList,
    classify,
    embedded_ipv4,
    format_address,
    parse_address,
    scheme_error,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
        ("[::1]", "loopback"),
    ],
)
def test_classify_refused_addresses(address: str, reason: str) -> None:
    assert classify(address) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111"],
)
def test_classify_public_addresses(address: str) -> None:
    assert classify(address) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("2002:a00:5::1", "private"),  # 6to4 of 10.0.0.5
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_ipv6_embedding_ipv4_is_judged_by_the_ipv4_address(
    address: str, reason: str | None
) -> None:
    assert classify(address) == reason


def test_classify_rejects_non_addresses() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        classify("feeds.example")


def test_parse_and_format_addresses() -> None:
    assert parse_address("feeds.example") is None
    assert parse_address("[2001:db8::1]") == ipaddress.ip_address("2001:db8::1")
    assert embedded_ipv4(ipaddress.ip_address("::ffff:1.2.3.4")) == ipaddress.ip_address("1.2.3.4")
    assert embedded_ipv4(ipaddress.ip_address("1.2.3.4")) is None
    assert format_address(ipaddress.ip_address("::ffff:1.2.3.4")) == "::ffff:1.2.3.4"


def test_default_policy_refuses_private_and_names_the_reason() -> None:
    check = AllowList.parse([]).check("feeds.example", ["10.0.0.5"])
    assert not check.ok
    assert check.refused[0].message == (
        "refused: feeds.example resolves to private address 10.0.0.5 "
        "(add it to allow_hosts to allow)"
    )
    literal = AllowList.parse([]).check("169.254.169.254", ["169.254.169.254"])
    assert literal.refused[0].message == (
        "refused: 169.254.169.254 is a cloud metadata address (add it to allow_hosts to allow)"
    )


def test_mixed_answers_keep_only_safe_addresses() -> None:
    check = AllowList.parse([]).check("feeds.example", ["10.0.0.5", "93.184.215.14", "::1"])
    assert check.ok
    assert check.allowed == ("93.184.215.14",)
    assert [r.address for r in check.refused] == ["10.0.0.5", "::1"]


def test_allow_single_addresses_and_cidr_ranges() -> None:
    allow = AllowList.parse(["127.0.0.1", "10.1.0.0/16", "fd12::/16"])
    assert allow.check("a", ["127.0.0.1"]).allowed == ("127.0.0.1",)
    assert not allow.check("a", ["127.0.0.2"]).ok
    assert allow.check("a", ["10.1.200.3"]).ok
    assert not allow.check("a", ["10.2.0.1"]).ok
    assert allow.check("a", ["fd12::5"]).ok
    assert not allow.check("a", ["fd00:ec2::254"]).ok  # outside fd12::/16
    # IPv4-mapped IPv6 is covered by an IPv4 range, both ways of writing it.
    assert allow.check("a", ["::ffff:10.1.0.9"]).allowed == ("::ffff:10.1.0.9",)
    loopback = AllowList.parse(["127.0.0.0/8"])
    assert loopback.check("a", ["127.9.9.9"]).ok
    assert not loopback.check("a", ["::1"]).ok  # v6 loopback needs its own entry


def test_allow_host_names_and_wildcards() -> None:
    allow = AllowList.parse(["Feeds.Intranet.", "*.corp.example"])
    assert allow.check("feeds.intranet", ["10.0.0.5"]).ok
    assert allow.check("FEEDS.INTRANET.", ["192.168.3.3"]).ok
    assert allow.check("news.corp.example", ["10.9.9.9"]).ok
    assert allow.check("a.b.corp.example", ["10.9.9.9"]).ok
    assert not allow.check("corp.example", ["10.9.9.9"]).ok  # the wildcard is for subdomains
    assert not allow.check("evilcorp.example", ["10.9.9.9"]).ok
    assert not allow.check("other.intranet", ["10.0.0.5"]).ok


def test_allow_list_rejects_bad_cidr() -> None:
    with pytest.raises(ValueError, match="not a valid CIDR"):
        AllowList.parse(["10.0.0.0/33"])


def test_scheme_error() -> None:
    assert scheme_error("http") is None
    assert scheme_error("HTTPS") is None
    assert scheme_error("file") == (
        "unsupported URL scheme 'file': only http:// and https:// feeds can be fetched"
    )
    assert scheme_error("gopher") is not None


@given(st.ip_addresses(v=4))
def test_every_ipv4_and_its_mapped_form_agree(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert classify(mapped) == classify(address)


@given(st.ip_addresses())
def test_whatever_python_calls_non_global_is_refused(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    # Independent oracle: the ipaddress module's registry of special-purpose ranges. We refuse
    # more than it does (multicast, metadata), never less. Embedded IPv4 is judged separately.
    if not address.is_global and embedded_ipv4(address) is None:
        assert classify(address) is not None


# -- found by mutation testing (`make mutate`) --------------------------------------------


def test_check_refuses_unparseable_answers_and_keeps_checking_the_rest() -> None:
    allow = AllowList.parse(["127.0.0.1/32"])
    result = allow.check("mixed.test", ["not-an-ip", "127.0.0.1", "127.0.0.1", "10.0.0.5"])
    assert result.allowed == ("127.0.0.1",)  # once, though answered twice
    assert [(r.host, r.address, r.reason) for r in result.refused] == [
        ("mixed.test", "not-an-ip", "unparseable"),
        ("mixed.test", "10.0.0.5", "private"),
    ]
    assert result.refused[0].message == (
        "refused: mixed.test resolves to unparseable address not-an-ip "
        "(add it to allow_hosts to allow)"
    )


def test_allow_list_networks_with_host_bits_and_entries_after_them() -> None:
    allow = AllowList.parse(["127.0.0.1/8", "192.168.1.1", "feeds.internal"])
    assert allow.check("h", ["127.0.0.2"]).allowed == ("127.0.0.2",)
    assert allow.check("h", ["192.168.1.1"]).allowed == ("192.168.1.1",)
    assert allow.allows_host("feeds.internal")


def test_parse_address_drops_a_zone_index_and_needs_both_brackets() -> None:
    assert parse_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    assert parse_address("[::1]") == ipaddress.ip_address("::1")
    assert parse_address("[::1") is None
    assert parse_address("::1]") is None
