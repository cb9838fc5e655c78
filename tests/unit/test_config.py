"""Settings come from PRESSLINE_* variables, in the forms operators write them."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from pressline.config import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("127.0.0.1, 10.0.0.0/8", ["127.0.0.1", "10.0.0.0/8"]),
        ('["::1", "192.168.0.0/16"]', ["::1", "192.168.0.0/16"]),
        ("", []),
    ],
)
def test_trusted_proxies_accept_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("PRESSLINE_TRUSTED_PROXIES", raw)
    settings = Settings()
    assert settings.trusted_proxies == expected
    assert settings.trusted_networks() == [ipaddress.ip_network(e) for e in expected]


def test_a_trusted_proxy_that_is_not_an_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESSLINE_TRUSTED_PROXIES", "proxy.internal")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings()


def test_an_unknown_log_level_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESSLINE_LOG_LEVEL", "bogus")
    with pytest.raises(ValidationError, match="log_level"):
        Settings()


@pytest.mark.parametrize("limit", ["0/second", "0 per 2 seconds", "10 per 0 seconds", "5/0 minute",
                                   "100/sec0nd", "-1/second"])  # fmt: skip
def test_a_rate_limit_that_admits_nothing_or_means_nothing_is_refused(limit: str) -> None:
    with pytest.raises(ValidationError, match="rate_limit"):
        Settings(rate_limit=limit)


@pytest.mark.parametrize(
    ("limit", "kept"),
    [("100/second", "100/second"), (" 10 per 2 seconds ", "10 per 2 seconds"), ("OFF", "off"),
     ("10/10 seconds", "10/10 seconds")],
)  # fmt: skip
def test_a_rate_limit_in_limits_notation_or_off_is_kept(limit: str, kept: str) -> None:
    assert Settings(rate_limit=limit).rate_limit == kept


@pytest.mark.parametrize(
    ("host", "port", "public_url", "expected"),
    [
        ("127.0.0.1", 8443, None, "https://localhost:8443"),
        ("orders.example.com", 443, None, "https://orders.example.com:443"),
        ("0.0.0.0", 8443, "https://orders.example.com/", "https://orders.example.com"),
    ],
)
def test_base_url_is_what_customers_are_told(
    host: str, port: int, public_url: str | None, expected: str
) -> None:
    assert Settings(host=host, port=port, public_url=public_url).base_url() == expected


def test_the_embedded_default_is_sqlite_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRESSLINE_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.is_sqlite
    assert settings.database_url == "sqlite:///var/pressline.db"


def test_a_lease_that_one_attempt_could_outlast_is_refused() -> None:
    with pytest.raises(ValidationError, match="PRESSLINE_WORKER_LEASE_SECONDS"):
        Settings(worker_lease_seconds=20, postback_timeout_seconds=10)
    assert Settings(worker_lease_seconds=21, postback_timeout_seconds=10).worker_lease_seconds == 21
