"""Outbound requests: the SSRF guard of the hosted mode, redirects, TLS verification.

Only 127.0.0.1 is used: the hosted mode must refuse the loopback sandbox unless the operator
allowlists it, and names are mapped to addresses by a stub resolver instead of real DNS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, update

from shared.db import make_engine
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.schema import orders, shop_integrations
from shared.settings import get_settings
from tests.engine.support import Shop, ago, count
from workers.domain import Operation
from workers.ports import ShopConnection, ShopError
from workers.runner import run_operation
from workers.shops import connect
from workers.shops.egress import EgressPolicy, EgressRefused, parse_allowlist, why_not_public
from workers.shops.http import ShopHttp, ShopHttpError
from workers.shops.sandbox import Sandbox, SandboxRequest, SandboxResponse, json_response

REFUSED = [
    "127.0.0.1", "127.8.9.10", "0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.100.100.200", "168.63.129.16", "224.0.0.1", "240.0.0.1",
    "255.255.255.255", "192.0.2.1", "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
    "64:ff9b::a9fe:a9fe", "2001:db8::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "151.101.1.1", "2a00:1450:4001:82b::200e", "2606:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert why_not_public(ipaddress.ip_address(address)) is not None
    policy = EgressPolicy(hosted=True)
    with pytest.raises(EgressRefused, match="does not connect there"):
        policy.vetted_addresses(address, 443)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert why_not_public(ipaddress.ip_address(address)) is None
    assert EgressPolicy(hosted=True).vetted_addresses(address, 443) == [address]


def test_every_resolved_address_must_pass_and_the_allowlist_opens_exceptions() -> None:
    answers = {"shop.example": ["93.184.216.34", "10.0.0.5"], "lan-shop.example": ["10.0.0.5"]}
    policy = EgressPolicy(hosted=True,
                          resolver=lambda host, port: answers[host.lower().rstrip(".")])
    with pytest.raises(EgressRefused, match=r"10.0.0.5"):
        policy.vetted_addresses("shop.example", 443)  # one bad answer is enough
    hosts, nets = parse_allowlist("10.0.0.0/8")
    allowed = EgressPolicy(hosted=True, allow_hosts=hosts, allow_networks=nets,
                           resolver=policy.resolver)
    assert allowed.vetted_addresses("lan-shop.example", 443) == ["10.0.0.5"]
    by_name = EgressPolicy(hosted=True, allow_hosts=frozenset({"lan-shop.example"}),
                           resolver=policy.resolver)
    assert by_name.vetted_addresses("LAN-Shop.Example.", 443) == ["10.0.0.5"]
    # Outside the hosted mode nothing is checked (a shop on the office LAN is normal there).
    assert EgressPolicy(resolver=policy.resolver).vetted_addresses("shop.example", 80)


def test_allowlist_syntax() -> None:
    hosts, nets = parse_allowlist(" 127.0.0.1/32, shop.lan ;10.2.0.0/16,,::1 ")
    assert hosts == {"shop.lan"}
    assert [str(n) for n in nets] == ["127.0.0.1/32", "10.2.0.0/16", "::1/128"]
    for bad in ("http://x", "a b", "user@host", ".lan"):
        with pytest.raises(ValueError):
            parse_allowlist(bad)


# -- the real client against the 127.0.0.1 sandbox ---------------------------------------------


def _run_import(erp: Engine) -> object:
    return run_operation(erp, 1, Operation.IMPORT_ORDERS, holder="t",
                         shop_factory=lambda conn: connect(conn))


def test_hosted_mode_refuses_the_loopback_sandbox_and_sends_nothing(
    erp: Engine, woo: Shop, hosted: pytest.MonkeyPatch
) -> None:
    woo.add_orders(2)
    result = _run_import(erp)
    assert result.outcome == "failed"
    assert "127.0.0.1" in result.error and "loopback" in result.error
    assert "ILUO_SYNC_SHOP_ALLOWLIST" in result.error
    assert woo.calls() == 0  # refused before connecting: the shop saw no request at all
    assert count(erp, orders) == 0


def test_hosted_mode_reaches_an_allowlisted_sandbox(
    erp: Engine, woo: Shop, hosted: pytest.MonkeyPatch
) -> None:
    hosted.setenv("ILUO_SYNC_SHOP_ALLOWLIST", "127.0.0.1/32")
    get_settings.cache_clear()
    woo.add_orders(2, start=ago(minutes=5))
    result = _run_import(erp)
    assert result.outcome == "ok", result.error
    assert count(erp, orders) == 2


def test_a_bad_allowlist_fails_the_run_with_a_clear_message(
    erp: Engine, woo: Shop, hosted: pytest.MonkeyPatch
) -> None:
    hosted.setenv("ILUO_SYNC_SHOP_ALLOWLIST", "http://nope")
    get_settings.cache_clear()
    result = _run_import(erp)
    assert result.outcome == "failed" and "ILUO_SYNC_SHOP_ALLOWLIST" in result.error
    assert woo.calls() == 0


def test_the_connection_goes_to_the_vetted_address_not_to_a_second_lookup(woo: Shop) -> None:
    """DNS rebinding: the name is resolved once, by the guard, and the socket opened to that
    very address. `rebind.test` does not exist in real DNS, so reaching the sandbox through it
    proves the second (system) lookup never happens; a rebinding answer is refused."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    policy = EgressPolicy(hosted=True, allow_networks=parse_allowlist("127.0.0.1/32")[1],
                          resolver=lambda host, port: next(answers))
    port = woo.handle.port
    http = ShopHttp(f"http://rebind.test:{port}/wp-json/wc/v3/", platform="t", egress=policy)
    with http:
        with pytest.raises(ShopHttpError):  # reached the sandbox: it refuses the unsigned call
            http.get("orders")
        http._client.close()  # no pooled connection: the next call resolves again
    http = ShopHttp(f"http://rebind.test:{port}/wp-json/wc/v3/", platform="t", egress=policy)
    with http, pytest.raises(EgressRefused, match=r"169.254.169.254"):
        http.get("orders")
    assert woo.calls() == 1


def test_the_peer_address_of_each_answer_is_checked_again(woo: Shop) -> None:
    """Whatever transport made the connection, an answer from a refused address is dropped
    before its body is read."""
    unguarded = httpx.HTTPTransport()  # e.g. a proxy or a future httpx: connects anywhere
    http = ShopHttp(woo.base_url + "/wp-json/wc/v3/", platform="t", transport=unguarded,
                    egress=EgressPolicy(hosted=True))
    with http, pytest.raises(EgressRefused, match="answer came from a refused address"):
        http.get("orders")
    assert http.stats.bytes_read == 0


# -- redirects ----------------------------------------------------------------------------------


class Redirector(Sandbox):
    platform = "redirector"

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(302, b"", [("Location", self.location)])


class Counter(Sandbox):
    platform = "internal"

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        return json_response(200, {"secret": "internal"})


@pytest.fixture
def internal() -> Iterator[tuple[Counter, str]]:
    service = Counter()
    with service.serve() as handle:
        yield service, handle.base_url


@pytest.mark.parametrize("hosted_mode", [False, True])
def test_redirects_are_never_followed(internal: tuple[Counter, str], hosted_mode: bool) -> None:
    service, internal_url = internal
    shop = Redirector(internal_url + "/latest/meta-data?token=abc")
    policy = EgressPolicy(hosted=hosted_mode, allow_networks=parse_allowlist("127.0.0.1/32")[1])
    with shop.serve() as handle:
        http = ShopHttp(handle.base_url + "/api/", platform="t", egress=policy)
        with http, pytest.raises(ShopHttpError, match="never followed") as caught:
            http.get("orders")
    assert caught.value.status_code == 302
    assert "token=abc" not in str(caught.value)  # the target's query is not repeated
    assert len(service.log) == 0  # the internal service never saw a request


def test_a_redirect_to_a_metadata_address_is_named_as_refused() -> None:
    shop = Redirector("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    policy = EgressPolicy(hosted=True, allow_networks=parse_allowlist("127.0.0.1/32")[1])
    with shop.serve() as handle:
        http = ShopHttp(handle.base_url + "/api/", platform="t", egress=policy)
        with http, pytest.raises(ShopHttpError) as caught:
            http.get("orders")
    message = str(caught.value)
    assert "169.254.169.254" in message and "private or metadata address: refused" in message
    assert "never followed" in message


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (what an attacker in the
    middle would present)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _woo(base_url: str, *, verify_tls: bool = True) -> object:
    conn = ShopConnection(1, "woocommerce", base_url, "ck_tls_test_key", "cs_tls_test_secret",
                          verify_tls=verify_tls)
    return connect(conn)


@pytest.mark.parametrize("hosted_mode", ["0", "1"])
def test_tls_is_verified_by_default(
    tls_server: str, monkeypatch: pytest.MonkeyPatch, hosted_mode: str
) -> None:
    monkeypatch.setenv("ILUO_SYNC_HOSTED", hosted_mode)
    monkeypatch.setenv("ILUO_SYNC_SHOP_ALLOWLIST", "127.0.0.1")
    get_settings.cache_clear()
    try:
        client = _woo(tls_server)
        client.http.retry = type(client.http.retry)(max_attempts=1)
        with pytest.raises(ShopError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            list(client.iter_products(None, dt.datetime.now(dt.UTC)))
        # The explicit opt-out (a local test shop) connects to the same server.
        insecure = _woo(tls_server, verify_tls=False)
        assert list(insecure.iter_products(None, dt.datetime.now(dt.UTC))) == []
    finally:
        get_settings.cache_clear()


# -- the per-integration opt-out, through the command line ----------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         *args: str) -> tuple[int, str]:
    from app.cli import main

    monkeypatch.setattr(sys, "argv", ["iluo-sync", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_verify_tls_off_only_for_a_local_test_shop(
    tls_server: str, tmp_path: Path, make_database: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", Fernet.generate_key().decode())
    url = make_database("sqlite")
    engine = make_engine(url)
    create_erp_schema(engine)
    fill_demo(engine, base_url=tls_server, api_key="ck_tls_test_key",
              api_secret="cs_tls_test_secret", products=2)
    assert _cli(capsys, monkeypatch, "tenant", "add", "tls", "--db-url", url)[0] == 0

    def run_orders() -> Any:
        return run_operation(engine, 1, Operation.IMPORT_ORDERS, holder="tls",
                             shop_factory=lambda conn: _no_retries(connect(conn)))

    # Default: verified, so the self-signed certificate fails the run.
    assert _cli(capsys, monkeypatch, "integration-option", "tls", "1", "verify-tls") == (
        0, "verify-tls=on\n")
    refused = run_orders()
    assert refused.outcome == "failed" and "CERTIFICATE_VERIFY_FAILED" in refused.error

    # The explicit opt-out for this local test shop (an https://127.0.0.1 address).
    code, out = _cli(capsys, monkeypatch, "integration-option", "tls", "1", "verify-tls", "off")
    assert code == 0 and "verify-tls=off" in out
    code, out = _cli(capsys, monkeypatch, "integrations", "tls", "--json")
    assert '"verify-tls": "off"' in out
    assert run_orders().outcome == "ok"

    # Pointed at a public address later: a configuration error, nothing is sent anywhere.
    with engine.begin() as conn:
        conn.execute(update(shop_integrations).values(base_url="https://shop.example.pl"))
    blocked = run_orders()
    assert blocked.outcome == "failed" and "only for a local test shop" in blocked.error
    code, out = _cli(capsys, monkeypatch, "integrations", "tls")
    assert "configuration error" in out and "verify-tls=off" in out

    # Asking for it on a public address is refused outright (exit 2, one line).
    code, out = _cli(capsys, monkeypatch, "integration-option", "tls", "1", "verify-tls", "on")
    assert code == 0  # turning checks back on is always allowed
    code, out = _cli(capsys, monkeypatch, "integration-option", "tls", "1", "verify-tls", "off")
    assert code == 2 and "only for a local test shop" in out and "Traceback" not in out
    code, out = _cli(capsys, monkeypatch, "integration-option", "tls", "1", "nope", "x")
    assert code == 2 and "unknown option" in out
    code, out = _cli(capsys, monkeypatch, "integration-option", "tls", "9", "verify-tls", "off")
    assert code == 2 and "no shop integration #9" in out
    engine.dispose()


def _no_retries(client: Any) -> Any:
    client.http.retry = type(client.http.retry)(max_attempts=1)
    return client
