"""Outbound HTTP safety for ``http`` function targets and the ``http_get`` builtin.

- Only ``https`` to globally routable addresses. Every IANA special-purpose range (IPv4 and IPv6)
  is refused, with the IPv6 forms that embed an IPv4 address (IPv4-mapped and -compatible, 6to4,
  NAT64, Teredo) and the cloud metadata addresses.
- Plain ``http`` is allowed only to the loopback origins ``http://127.0.0.1:<port>`` listed in
  ``RUNPLANE_LOOPBACK_HTTP_ORIGINS`` (local mode: test and demo tool servers), and never to the
  deployment's own endpoints (``RUNPLANE_OWN_ORIGINS``, ``AWS_ENDPOINT_URL``, ``MOTO_PORT``: the
  emulator and the API), even when listed.
- A name is resolved once; the connection goes to an address that was checked (the TLS server name
  and the Host header stay the name), so a DNS answer that changes between check and connect
  (rebinding) is never used.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpcore
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

METADATA_HOSTS = {
    "169.254.169.254",
    "fd00:ec2::254",
    "169.254.170.2",
    "169.254.170.23",
    "fd00:ec2::23",
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

# IANA IPv4 Special-Purpose Address Registry (plus multicast and the deprecated 6to4 relay range).
_SPECIAL_V4 = [
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT, cloud metadata)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112 direct delegation"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
]
# IANA IPv6 Special-Purpose Address Registry (plus multicast and deprecated site-local/compatible).
_SPECIAL_V6 = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b::/96", "NAT64 (well-known prefix)"),
    ("64:ff9b:1::/48", "NAT64 (local use)"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "AS112 direct delegation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
]
SPECIAL_NETWORKS: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = [
    (ipaddress.ip_network(net), name) for net, name in _SPECIAL_V4 + _SPECIAL_V6
]


class UnsafeUrl(ValueError):
    pass


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = ip.packed
    if packed[:12] == bytes(12) and packed[12:] != bytes(4) and ip != ipaddress.IPv6Address("::1"):
        return ipaddress.IPv4Address(packed[12:])  # IPv4-compatible
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(packed[12:])  # NAT64, well-known prefix (RFC 6052)
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why an address must not be called (None: a globally routable unicast address)."""
    text = str(ip)
    if text in METADATA_HOSTS:
        return f"{text} is a cloud metadata address"
    for net, name in SPECIAL_NETWORKS:
        if ip.version == net.version and ip in net:
            reason = f"{text} is in {net} ({name})"
            inner = _embedded_v4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
            if inner is not None:
                reason += f", a form of the IPv4 address {inner}"
            return reason
    if not ip.is_global:
        return f"{text} is not a globally routable address"
    return None


def default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _origin(url: str) -> tuple[str, int] | None:
    """(host, port) of an ``http://host:port`` origin, None if it is not one."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    return parts.hostname.lower(), port


@dataclass(frozen=True)
class Policy:
    """Where outbound calls may go. ``resolver`` and ``backend`` are seams for tests."""

    loopback_ports: frozenset[int] = frozenset()
    own_ports: frozenset[int] = frozenset()
    resolver: Resolver = field(default=default_resolver, compare=False)
    backend: Any = field(default=None, compare=False)  # httpcore.NetworkBackend that opens sockets

    @classmethod
    def of(cls, loopback_origins: Iterable[str], own_origins: Iterable[str] = ()) -> Policy:
        loopback: set[int] = set()
        for origin in loopback_origins:
            parsed = _origin(origin)
            if parsed is None or parsed[0] != "127.0.0.1" or not origin.strip().startswith("http://"):
                raise ValueError(f"'{origin}' is not an origin of the form http://127.0.0.1:<port>")
            loopback.add(parsed[1])
        own = {parsed[1] for parsed in map(_origin, own_origins) if parsed is not None}
        return cls(loopback_ports=frozenset(loopback), own_ports=frozenset(own))

    def allows_loopback(self, port: int) -> bool:
        return port in self.loopback_ports and port not in self.own_ports


@dataclass(frozen=True)
class Checked:
    """A URL that passed the guard, with the addresses a connection may use."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(url: str, policy: Policy, *, resolve: bool = True) -> Checked:
    """Raise UnsafeUrl unless ``url`` may be called; with ``resolve`` (at call time) the name is
    resolved and every address checked. Without it (when a function is registered) only what the
    URL itself says is checked: DNS answers then may differ from those at call time."""
    import httpx

    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii").lower().rstrip(".")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from None
    scheme = parsed.scheme
    if not host:
        raise UnsafeUrl("the URL has no host")
    if scheme not in ("http", "https"):
        raise UnsafeUrl(f"scheme '{scheme}' is not allowed")
    if host in METADATA_HOSTS:
        raise UnsafeUrl(f"'{host}' is a cloud metadata address")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if scheme == "http":
        if literal is not None and str(literal) == "127.0.0.1" and policy.allows_loopback(port):
            return Checked(url, scheme, host, port, ("127.0.0.1",))
        if literal is not None and literal.is_loopback and port in policy.own_ports:
            raise UnsafeUrl(f"port {port} is this deployment's own endpoint (the emulator or the API)")
        raise UnsafeUrl(
            "only https URLs are allowed (plain http only to the loopback origins listed in "
            "RUNPLANE_LOOPBACK_HTTP_ORIGINS)"
        )
    if literal is not None:
        reason = refusal(literal)
        if reason:
            raise UnsafeUrl(f"refused address: {reason}")
        return Checked(url, scheme, host, port, (str(literal),))
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        raise UnsafeUrl(f"'{host}' is a loopback name")
    if not resolve:
        return Checked(url, scheme, host, port, ())
    try:
        addresses = policy.resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"cannot resolve '{host}': {exc}") from None
    if not addresses:
        raise UnsafeUrl(f"cannot resolve '{host}'")
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise UnsafeUrl(f"'{host}' resolved to '{address}', which is not an IP address") from None
        reason = refusal(ip)
        if reason:
            raise UnsafeUrl(f"'{host}' resolves to a refused address: {reason}")
    return Checked(url, scheme, host, port, tuple(addresses))


def _pinned_backend(checked: Checked, inner: httpcore.NetworkBackend | None) -> httpcore.NetworkBackend:
    import httpcore

    base = inner or httpcore.SyncBackend()

    class PinnedBackend(httpcore.NetworkBackend):
        """Opens connections only to the checked host and port, and only to its checked addresses."""

        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Iterable[Any] | None = None,
        ) -> httpcore.NetworkStream:
            if (host.lower().rstrip("."), port) != (checked.host.strip("[]"), checked.port):
                raise httpcore.ConnectError(f"refused: {host}:{port} is not the checked destination")
            error: Exception | None = None
            for address in checked.addresses:
                try:
                    return base.connect_tcp(address, port, timeout, local_address, socket_options)
                except httpcore.ConnectError as exc:  # try the next checked address
                    error = exc
            raise error or httpcore.ConnectError(f"no address to connect to for {host}")

        def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
            raise httpcore.ConnectError("unix sockets are refused")

        def sleep(self, seconds: float) -> None:
            base.sleep(seconds)

    return PinnedBackend()


def pinned_client(url: str, policy: Policy, *, timeout: float) -> httpx.Client:
    """Check ``url`` (resolving its name once) and return a client that can reach only that origin,
    through the checked addresses. No proxies from the environment, no redirects followed."""
    import httpcore
    import httpx

    checked = check_url(url, policy, resolve=True)

    class PinnedTransport(httpx.HTTPTransport):
        def __init__(self) -> None:
            super().__init__(trust_env=False)
            self._pool = httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(trust_env=False),
                max_connections=1,
                network_backend=_pinned_backend(checked, policy.backend),
            )

    return httpx.Client(transport=PinnedTransport(), timeout=timeout, follow_redirects=False, trust_env=False)


def policy_for(settings: Any) -> Policy:
    """The policy the deployment's Settings describe."""
    return _policy(tuple(settings.loopback_http_origins), tuple(settings.own_origins))


@lru_cache(maxsize=8)
def _policy(loopback_origins: tuple[str, ...], own_origins: tuple[str, ...]) -> Policy:
    return Policy.of(loopback_origins, own_origins)
