"""Which URLs Pressline may call on a customer's behalf (reliability.md 17).

A webhook URL is a request to make our server connect somewhere. Unchecked, a customer
could point it at the metadata service of the cloud it runs in, at the database next
to it, or at the operator's intranet. So a URL is checked when it is saved and again
before every delivery, and the delivery connects to the address the check approved:
between a check and a second DNS lookup the name could be re-pointed (DNS rebinding).

The rules: ``https`` only; no user name or password in the URL; the host must resolve,
and every address it resolves to must be globally routable unicast (not loopback,
private, link-local, multicast, reserved, unspecified, shared, site-local, nor an IPv4
address of those kinds inside IPv6). The operator may allow networks explicitly (tests
and local development allow ``127.0.0.1``); plain ``http`` is accepted only when the
operator enabled it *and* the host resolves into an allowed network.

Name resolution is a parameter, so the checks run without a network in tests.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import SplitResult, urlsplit

from pressline.errors import FieldError, ValidationFailed

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
#: ``resolve(host, port)`` → the addresses ``host`` resolves to, as text.
#: Raises ``OSError`` when it cannot resolve.
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"https": 443, "http": 80}


class OutboundUrlRefused(ValidationFailed):
    """A URL Pressline will not call; ``reason`` says why, for the delivery log too."""

    code = "outbound_url_refused"

    def __init__(self, reason: str, *, param: str = "url") -> None:
        self.reason = reason
        super().__init__([FieldError(self.code, param, reason)], summary=f"{param}: {reason}")


class OutboundHostUnresolvable(OutboundUrlRefused):
    """The host did not resolve. At save time a 400; at delivery a retryable failure."""

    code = "outbound_host_unresolvable"


@dataclass(frozen=True, slots=True)
class Destination:
    """An approved URL and the address to connect to for it."""

    scheme: str
    host: str  # the name for the Host header, TLS SNI and certificate check
    port: int
    target: str  # path and query, as given ("/" when empty)
    address: Address

    @property
    def request_url(self) -> str:
        """The URL with the approved address as its host: connect here, nowhere else."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{host}:{self.port}{self.target}"

    @property
    def host_header(self) -> str:
        """``Host`` as the URL named it (port only when not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.scheme] == self.port
        return host if default else f"{host}:{self.port}"


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Operator settings such as ``127.0.0.1/32`` or ``::1`` as networks."""
    return tuple(ip_network(value.strip(), strict=False) for value in values if value.strip())


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (blocking: call it off the event loop)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries to (IPv4-mapped, 6to4)."""
    if isinstance(address, IPv6Address):
        return address.ipv4_mapped or address.sixtofour
    return None


_NOT_GLOBAL = (
    ip_network("192.0.0.0/24"),  # IETF protocol assignments (192.0.0.8, the dummy address…)
    ip_network("192.88.99.0/24"),  # the deprecated 6to4 relay anycast (RFC 7526)
)


def forbidden_reason(address: Address) -> str | None:
    """Why ``address`` may not be called, or None when it is public unicast."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = forbidden_reason(embedded)
        return None if reason is None else f"{reason} (inside {address})"
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),  # cloud metadata lives here
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),  # before private: 240/4 is both
        ("private", address.is_private),
        ("site-local", isinstance(address, IPv6Address) and address.is_site_local),
        ("not globally routable", not address.is_global),  # e.g. 100.64.0.0/10
        # IANA's special-purpose registry says these are not globally reachable either;
        # Python 3.11's tables count them as global.
        ("not globally routable", any(address in network for network in _NOT_GLOBAL)),
    )
    for kind, applies in kinds:
        if applies:
            article = "an" if kind[0] in "aeiou" else "a"
            return f"{address} is {article} {kind} address"
    return None


def is_allowed(address: Address, networks: Sequence[Network]) -> bool:
    """Whether ``address`` (or the IPv4 address inside it) is in one of ``networks``."""
    embedded = _embedded_ipv4(address)
    candidates = [address] if embedded is None else [address, embedded]
    return any(a in network for a in candidates for network in networks)


def _parse(url: str, *, allow_http: bool, param: str) -> tuple[SplitResult, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise OutboundUrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters", param=param)
    if not url.isascii() or any(ch <= " " or ch == "\x7f" for ch in url):
        raise OutboundUrlRefused(
            "the URL has spaces, control or non-ASCII characters "
            "(percent-encode the path, use the punycode form of the host)",
            param=param,
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_http):
        raise OutboundUrlRefused("the URL must start with https://", param=param)
    if "@" in parts.netloc:
        raise OutboundUrlRefused(
            "the URL may not contain a user name or password; send credentials "
            "as a static header of the trigger instead",
            param=param,
        )
    message = "the URL's port is not a number from 1 to 65535"
    try:
        port = _DEFAULT_PORTS[scheme] if parts.port is None else parts.port
    except ValueError:
        raise OutboundUrlRefused(message, param=param) from None
    if port == 0:  # urlsplit accepts it; a connection to port 0 goes nowhere intended
        raise OutboundUrlRefused(message, param=param)
    if not parts.hostname:
        raise OutboundUrlRefused("the URL has no host", param=param)
    return parts, scheme, port


def _addresses(host: str, port: int, resolve: Resolver, param: str) -> list[Address]:
    try:
        return [ip_address(host)]
    except ValueError:
        pass  # a name, not a literal address
    try:
        found = [ip_address(text) for text in resolve(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        message = f"'{host}' could not be resolved ({exc})"
        raise OutboundHostUnresolvable(message, param=param) from exc
    if not found:
        raise OutboundHostUnresolvable(f"'{host}' resolves to no address", param=param)
    return found


def check_url(
    url: str,
    *,
    resolve: Resolver,
    allow_http: bool = False,
    allowed_networks: Sequence[Network] = (),
    param: str = "url",
) -> Destination:
    """Check ``url`` and return where to connect; raise :class:`OutboundUrlRefused`.

    Every address the host resolves to must pass: a name that resolves to one public
    and one private address is refused, since a client might pick either.
    """
    parts, scheme, port = _parse(url, allow_http=allow_http, param=param)
    host = parts.hostname or ""
    addresses = _addresses(host, port, resolve, param)
    for address in addresses:
        if is_allowed(address, allowed_networks):
            continue
        reason = forbidden_reason(address)
        if reason is not None:
            raise OutboundUrlRefused(f"'{host}' is not allowed: {reason}", param=param)
    if scheme == "http" and not all(is_allowed(a, allowed_networks) for a in addresses):
        raise OutboundUrlRefused(
            "plain http is allowed only to networks the operator allowed", param=param
        )
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Destination(scheme, host, port, target, addresses[0])
