"""Outbound HTTP safety: refuse private, loopback, link-local and metadata addresses.

Used for ``http`` function targets and the ``http_get`` builtin. Local mode may allow plain http
to loopback (``RUNPLANE_ALLOW_LOOPBACK_HTTP``) so tests can run a tool server on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = {"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "metadata.google.internal"}


class UnsafeUrl(ValueError):
    pass


def _address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    if ip.is_loopback:
        return allow_loopback
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _address_allowed(ip.ipv4_mapped, allow_loopback)
    return not (
        ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or str(ip) in METADATA_HOSTS
    )


def check_url(url: str, *, allow_loopback_http: bool = False, resolve: bool = True) -> None:
    """Raise UnsafeUrl unless ``url`` is https (or, if allowed, http to loopback) to a public address."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl("the URL has no host")
    if host in METADATA_HOSTS:
        raise UnsafeUrl(f"'{host}' is a metadata address")
    loopback_names = {"localhost", "localhost.localdomain"}
    if parts.scheme == "http":
        is_loopback_host = host in loopback_names or _is_loopback_literal(host)
        if not (allow_loopback_http and is_loopback_host):
            raise UnsafeUrl("only https URLs are allowed")
    elif parts.scheme != "https":
        raise UnsafeUrl(f"scheme '{parts.scheme}' is not allowed")
    if host in loopback_names and not allow_loopback_http:
        raise UnsafeUrl(f"'{host}' is a loopback address")
    addresses: list[str] = []
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if resolve:
            try:
                infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
            except socket.gaierror as exc:
                raise UnsafeUrl(f"cannot resolve '{host}': {exc}") from None
            addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        if not _address_allowed(ipaddress.ip_address(address.split("%")[0]), allow_loopback_http):
            raise UnsafeUrl(f"'{host}' resolves to a private, loopback or link-local address ({address})")


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
