"""The outbound-HTTP guard: special-purpose ranges, loopback origins, and a connection pinned to the
address that was checked (DNS rebinding), with real sockets to a tool server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from runplane.config import Settings
from runplane.tools.builtins import ToolError, http_get
from runplane.tools.netguard import Policy, UnsafeUrl, check_url, refusal
from runplane.tools.targets import invoke_http
from tests.support.tool_server import ToolServer

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"

# (address, what it is): every one must be refused, as a URL literal and as a DNS answer.
REFUSED = [
    ("0.0.0.0", "this network"),
    ("10.1.2.3", "private"),
    ("100.64.0.1", "shared address space / metadata (100.64.0.0/10)"),
    ("100.127.255.254", "shared address space, top"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback /8"),
    ("169.254.169.254", "AWS/GCP/Azure metadata"),
    ("169.254.170.2", "ECS task metadata"),
    ("172.16.5.4", "private"),
    ("192.0.0.170", "NAT64 discovery"),
    ("192.0.2.1", "TEST-NET-1"),
    ("192.88.99.1", "6to4 relay"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.7", "TEST-NET-2"),
    ("203.0.113.9", "TEST-NET-3"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fd00:ec2::254", "EC2 IPv6 metadata"),
    ("fc00::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:8.8.8.8", "IPv4-mapped (even public)"),
    ("::a9fe:a9fe", "IPv4-compatible metadata"),
    ("2002:a9fe:a9fe::1", "6to4 of 169.254.169.254"),
    ("2002:0a00:0001::1", "6to4 of 10.0.0.1"),
    ("2002:7f00:0001::1", "6to4 of 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254"),
    ("64:ff9b::10.0.0.1", "NAT64 of 10.0.0.1"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:db8::1", "documentation"),
    ("100::1", "discard-only"),
    ("3fff::1", "documentation (3fff::/20)"),
    ("5f00::1", "SRv6 SIDs"),
]


class CountingResolver:
    """A resolver we control: answers ``answers[i]`` for the i-th lookup (the last one after that)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls) - 1, len(self.answers) - 1)]


class RecordingBackend(httpcore.SyncBackend):
    """The real socket backend, recording where each connection goes. It opens real sockets only to
    127.0.0.1 (this machine does not reach the internet) and fails the others as unreachable."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"{host} is unreachable from the test machine")
        return super().connect_tcp(host, port, *args, **kwargs)


@pytest.fixture(scope="module")
def tools() -> Iterator[ToolServer]:
    server = ToolServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize(("address", "what"), REFUSED, ids=[a for a, _ in REFUSED])
def test_every_special_purpose_address_is_refused(address: str, what: str) -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address(address)) is not None, what
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeUrl):
        check_url(f"https://{literal}/x", Policy())
    # The same address as the DNS answer for a public-looking name, at call time.
    resolver = CountingResolver([address])
    with pytest.raises(UnsafeUrl, match="refused address"):
        check_url("https://api.example.com/x", Policy(resolver=resolver))
    assert resolver.calls == [("api.example.com", 443)]


def test_embedded_ipv4_is_named() -> None:
    import ipaddress

    assert "169.254.169.254" in (refusal(ipaddress.ip_address("2002:a9fe:a9fe::1")) or "")
    assert "169.254.169.254" in (refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) or "")
    assert "169.254.169.254" in (refusal(ipaddress.ip_address("::ffff:169.254.169.254")) or "")


def test_public_addresses_pass() -> None:
    for address in (PUBLIC_V4, PUBLIC_V6):
        assert check_url("https://api.example.com/", Policy(resolver=CountingResolver([address]))).addresses == (
            address,
        )
    assert check_url(f"https://{PUBLIC_V4}/", Policy()).addresses == (PUBLIC_V4,)


@pytest.mark.parametrize(
    "url",
    [
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://localhost/",
        "https://foo.localhost/",
        "http://example.com/",  # plain http to anything but a listed loopback origin
        "ftp://example.com/",
        "file:///etc/passwd",
        "https:///nohost",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, Policy(resolver=CountingResolver([PUBLIC_V4])))


def test_loopback_only_for_listed_origins_and_never_own_ports() -> None:
    policy = Policy.of(["http://127.0.0.1:5000", "http://127.0.0.1:4566"], own_origins=["http://127.0.0.1:4566"])
    assert check_url("http://127.0.0.1:5000/echo", policy).addresses == ("127.0.0.1",)
    for url in (
        "http://127.0.0.1:5001/",  # not listed
        "http://127.0.0.1:4566/moto-api/reset",  # listed, but the deployment's own endpoint
        "http://localhost:5000/",  # names are not origins
        "http://[::1]:5000/",
        "http://127.0.0.2:5000/",
        "https://127.0.0.1:5000/",  # https to loopback: refused like any special address
    ):
        with pytest.raises(UnsafeUrl):
            check_url(url, policy)
    with pytest.raises(ValueError):
        Policy.of(["http://localhost:5000"])
    with pytest.raises(ValueError):
        Policy.of(["https://127.0.0.1:5000"])


def test_settings_add_the_emulator_endpoint_to_own_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPLANE_LOOPBACK_HTTP_ORIGINS", "http://127.0.0.1:7001, http://127.0.0.1:4566")
    monkeypatch.setenv("RUNPLANE_OWN_ORIGINS", "http://127.0.0.1:8000")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("MOTO_PORT", "4567")
    settings = Settings.from_env()
    assert settings.loopback_http_origins == ["http://127.0.0.1:7001", "http://127.0.0.1:4566"]
    policy = Policy.of(settings.loopback_http_origins, settings.own_origins)
    assert policy.allows_loopback(7001)
    assert not policy.allows_loopback(4566) and not policy.allows_loopback(4567) and not policy.allows_loopback(8000)
    monkeypatch.setenv("RUNPLANE_LOOPBACK_HTTP_ORIGINS", "http://10.0.0.1:80")
    with pytest.raises(ValueError, match=r"http://127\.0\.0\.1"):
        Settings.from_env()


def test_a_name_resolving_to_a_private_address_is_refused_at_call_time(tools: ToolServer) -> None:
    resolver = CountingResolver(["10.0.0.7"])
    backend = RecordingBackend()
    policy = Policy(resolver=resolver, backend=backend)
    # Registration does not resolve (the answer may change): the URL itself is fine.
    check_url("https://inventory.example.com/echo", policy, resolve=False)
    with pytest.raises(ToolError, match=r"10\.0\.0\.7"):
        invoke_http({"url": "https://inventory.example.com/echo"}, {"input": {}}, 2.0, policy=policy)
    with pytest.raises(ToolError, match=r"10\.0\.0\.7"):
        http_get({"url": "https://inventory.example.com/"}, policy=policy)
    assert backend.connected == [] and tools.requests == []


def test_rebinding_cannot_switch_the_address_between_check_and_connect(tools: ToolServer) -> None:
    port = tools.httpd.server_address[1]
    # First answer public (passes the check), every later one the tool server on 127.0.0.1.
    resolver = CountingResolver([PUBLIC_V4], ["127.0.0.1"])
    backend = RecordingBackend()
    policy = Policy(resolver=resolver, backend=backend)
    tools.requests.clear()
    with pytest.raises(ToolError):
        invoke_http({"url": f"https://rebind.example.com:{port}/echo"}, {"input": {}}, 2.0, policy=policy)
    assert len(resolver.calls) == 1  # resolved once, at the check
    assert backend.connected == [(PUBLIC_V4, port)]  # connected to the checked address, not 127.0.0.1
    assert tools.requests == []


def test_a_listed_loopback_origin_is_reached_through_the_pinned_connection(tools: ToolServer) -> None:
    backend = RecordingBackend()
    policy = Policy(loopback_ports=frozenset({tools.httpd.server_address[1]}), backend=backend)
    tools.requests.clear()
    out = invoke_http({"url": tools.url + "/echo"}, {"input": {"q": 1}}, 5.0, policy=policy)
    assert out["echo"] == {"q": 1}
    assert backend.connected == [("127.0.0.1", tools.httpd.server_address[1])]
    assert [p for p, _ in tools.requests] == ["/echo"]
