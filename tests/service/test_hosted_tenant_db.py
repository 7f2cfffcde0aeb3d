"""The hosted mode covers tenant database URLs: a host that resolves to loopback, link-local or
metadata addresses is refused (when a tenant is added and at every new connection) unless
ILUO_SYNC_TENANT_DB_ALLOWLIST lists it; private networks, where tenant databases live, pass."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from sqlalchemy import text

from shared.control.registry import Registry
from shared.control.tenant_hosts import TenantHostPolicy, TenantHostRefused
from shared.db import parse_db_url
from shared.errors import UserError
from shared.settings import Settings
from tests.service.conftest import Control


def _policy(answers: dict[str, list[str]], allow: str = "") -> TenantHostPolicy:
    base = TenantHostPolicy.from_settings(Settings(hosted=True, tenant_db_allowlist=allow))
    return TenantHostPolicy(base.hosted, base.allow_hosts, base.allow_networks,
                            resolver=lambda host: answers[host])


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "169.254.169.254", "fe80::1", "168.63.129.16", "0.0.0.0",
    "::ffff:127.0.0.1",  # loopback inside an IPv6 address
])
def test_loopback_link_local_and_metadata_are_refused(address: str) -> None:
    with pytest.raises(TenantHostRefused, match="ILUO_SYNC_TENANT_DB_ALLOWLIST"):
        _policy({"db.example": [address]}).check(
            parse_db_url("postgresql://u@db.example/erp"))


def test_private_and_public_addresses_pass_and_a_mixed_answer_does_not() -> None:
    policy = _policy({"erp.lan": ["10.2.0.7"], "erp.cloud": ["203.0.113.9"],
                      "rebind.example": ["10.0.0.5", "127.0.0.1"]})
    assert policy.check(parse_db_url("postgresql://u@erp.lan/erp")) == ["10.2.0.7"]
    assert policy.check(parse_db_url("mysql://u@erp.cloud/erp")) == ["203.0.113.9"]
    with pytest.raises(TenantHostRefused, match=r"127\.0\.0\.1"):
        policy.check(parse_db_url("postgresql://u@rebind.example/erp"))


def test_the_allowlist_is_its_own_setting_by_host_or_network() -> None:
    answers = {"localdb": ["127.0.0.1"], "other": ["127.0.0.2"]}
    assert _policy(answers, allow="localdb").check(parse_db_url("postgresql://u@localdb/e")) == []
    by_net = _policy(answers, allow="127.0.0.0/30")
    assert by_net.check(parse_db_url("postgresql://u@other/e")) == ["127.0.0.2"]
    # The shops' allowlist does not open tenant databases.
    shops_only = TenantHostPolicy.from_settings(Settings(hosted=True,
                                                         shop_allowlist="127.0.0.0/8"))
    with pytest.raises(TenantHostRefused):
        shops_only.check(parse_db_url("postgresql://u@127.0.0.1/e"))
    assert ipaddress.ip_address("127.0.0.2") in by_net.allow_networks[0]


def test_outside_the_hosted_mode_nothing_is_checked() -> None:
    policy = TenantHostPolicy.from_settings(Settings(hosted=False))
    assert policy.check(parse_db_url("postgresql://u@127.0.0.1/erp")) == []


def _hosted_registry(control: Control, allow: str = "") -> Registry:
    settings = Settings(control_db=control.url, hosted=True, tenant_db_allowlist=allow,
                        secret_key=control.settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    return Registry(settings)


def test_a_hosted_registry_refuses_a_loopback_tenant_when_added_and_when_connecting(
    control: Control, make_database: Callable[[str], str]
) -> None:
    url = make_database("postgresql")  # on 127.0.0.1
    hosted = _hosted_registry(control)
    try:
        with pytest.raises(UserError, match="loopback"):
            hosted.add("refused", url)
        # Registered before the operator switched the hosted mode on: refused at connect.
        tenant, _erp = control.add_tenant("earlier", backend="postgresql")
        with pytest.raises(TenantHostRefused), hosted.tenant_engine(tenant).connect():
            pass
    finally:
        hosted.close()
    allowed = _hosted_registry(control, allow="127.0.0.1/32")
    try:
        with allowed.tenant_engine(tenant).connect() as conn:  # pinned to the vetted address
            assert conn.execute(text("SELECT inet_server_addr()::text")).scalar() in (
                "127.0.0.1/32", "127.0.0.1")
    finally:
        allowed.close()
