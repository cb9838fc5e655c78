"""Which URLs Pressline may call (``pressline.postbacks.outbound``, reliability.md 17).

Name resolution is a fake: a dict from host to addresses, so no test touches DNS.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from pressline.http_errors import status_and_type
from pressline.postbacks.outbound import (
    Destination,
    OutboundHostUnresolvable,
    OutboundUrlRefused,
    check_url,
    forbidden_reason,
    parse_networks,
    system_resolver,
)

PUBLIC = "93.184.215.14"
LOCAL = parse_networks(["127.0.0.0/8", "::1"])


class FakeDns:
    """Answers from a table and remembers what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


def _check(url: str, addresses: list[str] | None = None, **options: object) -> Destination:
    dns = FakeDns({"hooks.example.com": addresses or [PUBLIC]})
    return check_url(url, resolve=dns, **options)  # type: ignore[arg-type]


def test_a_public_https_url_is_approved_with_the_address_to_connect_to() -> None:
    dns = FakeDns({"hooks.example.com": [PUBLIC]})
    destination = check_url("https://Hooks.Example.com/pressline?x=1#frag", resolve=dns)
    assert dns.asked == [("hooks.example.com", 443)]
    assert destination.address == ip_address(PUBLIC)
    assert destination.request_url == f"https://{PUBLIC}:443/pressline?x=1"
    assert destination.host_header == "hooks.example.com"


def test_a_non_default_port_and_an_ipv6_address_shape_the_request() -> None:
    destination = _check(
        "https://hooks.example.com:8443", ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    )
    assert destination.request_url == "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/"
    assert destination.host_header == "hooks.example.com:8443"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not globally routable"),
        ("192.0.0.8", "not globally routable"),
        ("192.88.99.1", "not globally routable"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "private"),
        ("ff02::1", "multicast"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused(address: str, kind: str) -> None:
    with pytest.raises(OutboundUrlRefused) as caught:
        _check("https://hooks.example.com/x", [address])
    assert f" {kind} address" in caught.value.reason
    assert type(caught.value) is OutboundUrlRefused


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700::1111", "::ffff:93.184.215.14"])
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ip_address(address)) is None


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(OutboundUrlRefused, match=r"10\.0\.0\.5 is a private address"):
        _check("https://hooks.example.com/", [PUBLIC, "10.0.0.5"])


def test_a_literal_address_is_checked_without_asking_dns() -> None:
    dns = FakeDns({})
    with pytest.raises(OutboundUrlRefused, match="loopback"):
        check_url("https://[::1]:8443/hook", resolve=dns)
    destination = check_url(f"https://{PUBLIC}/hook", resolve=dns)
    assert destination.address == ip_address(PUBLIC)
    assert dns.asked == []


def test_an_allowed_network_lets_tests_call_loopback() -> None:
    destination = _check("https://hooks.example.com:9000/h", ["127.0.0.1"], allowed_networks=LOCAL)
    assert destination.request_url == "https://127.0.0.1:9000/h"
    with pytest.raises(OutboundUrlRefused, match="private"):
        _check("https://hooks.example.com/", ["10.0.0.1"], allowed_networks=LOCAL)


def test_an_allowed_network_also_covers_its_ipv4_mapped_form() -> None:
    destination = _check("https://hooks.example.com/", ["::ffff:127.0.0.1"], allowed_networks=LOCAL)
    assert destination.address == ip_address("::ffff:127.0.0.1")


def test_plain_http_is_refused_unless_enabled() -> None:
    with pytest.raises(OutboundUrlRefused, match="must start with https://"):
        _check("http://hooks.example.com/", ["127.0.0.1"], allowed_networks=LOCAL)


def test_enabled_plain_http_reaches_only_allowed_networks() -> None:
    options: dict[str, object] = {"allow_http": True, "allowed_networks": LOCAL}
    local = _check("http://hooks.example.com:8080/h", ["127.0.0.1"], **options)
    assert local.request_url == "http://127.0.0.1:8080/h"
    assert local.host_header == "hooks.example.com:8080"
    with pytest.raises(OutboundUrlRefused, match="plain http"):
        _check("http://hooks.example.com/h", [PUBLIC], **options)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "must start with https://"),
        ("hooks.example.com/path", "must start with https://"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://token@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://1.1.1.1:0/x", "port"),
        ("https://hooks.example.com:http/", "port"),
        ("https:///path-only", "no host"),
        ("https://hooks.example.com/a b", "spaces, control or non-ASCII"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "spaces, control or non-ASCII"),
        ("https://bücher.example/", "punycode"),
        ("https://hooks.example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(OutboundUrlRefused, match=message):
        _check(url)


def test_a_refused_url_is_a_400_naming_the_field() -> None:
    with pytest.raises(OutboundUrlRefused) as caught:
        check_url("http://x.example/", resolve=FakeDns({}), param="destination.url")
    assert status_and_type(caught.value) == (400, "invalid_request")
    (error,) = caught.value.errors
    assert (error.code, error.param) == ("outbound_url_refused", "destination.url")


def test_a_host_that_does_not_resolve_is_its_own_retryable_kind_of_refusal() -> None:
    with pytest.raises(OutboundHostUnresolvable, match="could not be resolved") as caught:
        check_url("https://nowhere.example/", resolve=FakeDns({}))
    assert caught.value.errors[0].code == "outbound_host_unresolvable"
    with pytest.raises(OutboundHostUnresolvable, match="resolves to no address"):
        check_url("https://empty.example/", resolve=FakeDns({"empty.example": []}))


def test_operator_networks_are_parsed_from_settings_text() -> None:
    networks = parse_networks([" 127.0.0.1 ", "", "10.0.0.0/8", "::1"])
    assert [str(network) for network in networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError):
        parse_networks(["not-a-network"])


def test_the_system_resolver_returns_addresses_as_text() -> None:
    assert system_resolver("127.0.0.1", 443) == ["127.0.0.1"]
