"""Settings, read once from the environment (prefix ``PRESSLINE_``).

Every setting has a documented default that works for a laptop: an embedded
SQLite database under ``./var/`` and a self-signed certificate for localhost.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class Settings(BaseSettings):
    """Runtime configuration. See docs/operator.md for each variable."""

    model_config = SettingsConfigDict(env_prefix="PRESSLINE_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/pressline.db",
        description="SQLAlchemy URL: sqlite:///PATH (embedded) or postgresql+psycopg://…",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTPS listener binds to.")
    port: int = Field(default=8443, ge=1, le=65535, description="HTTPS port.")
    public_url: str | None = Field(
        default=None, description="Base URL customers use, e.g. https://orders.example.com."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain.")
    tls_key: Path | None = Field(default=None, description="PEM private key.")
    tls_dir: Path = Field(
        default=Path("var/tls"), description="Where the self-signed localhost pair is kept."
    )
    tls_enabled: bool = Field(
        default=True,
        description="Serve HTTPS. Set false only behind a TLS-terminating proxy "
        "listed in PRESSLINE_TRUSTED_PROXIES.",
    )
    http_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Optional plain-HTTP port that answers every request with 403 https_required.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks whose X-Forwarded-Proto is believed.",
    )
    workers: int = Field(default=1, ge=1, le=64, description="API processes (PostgreSQL only).")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    hsts_max_age: int = Field(default=31_536_000, ge=0)
    write_batch_max: int = Field(
        default=64, ge=1, le=1000, description="Most writes committed together by the writer."
    )
    read_pool_size: int = Field(
        default=8,
        ge=1,
        le=128,
        description="PostgreSQL reader threads per process, each with a read connection.",
    )
    #: How often each process checks whether an operator changed reference data.
    reference_refresh_seconds: float = Field(default=2.0, gt=0, le=3600)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(default="info")
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="json: one JSON object per line; console: readable; auto: console on a "
        "terminal, json otherwise (systemd, containers).",
    )
    rate_limit: str = Field(
        default="100/second",
        description="Requests per API key, in limits' notation (100/second, 200 per 2 seconds), "
        "unless the connector has its own; 'off' disables rate limiting.",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://HOST:PORT/DB (or rediss://): share rate limits across processes.",
    )
    redis_timeout: float = Field(
        default=0.1, gt=0, le=5, description="Seconds to connect to and wait for Redis."
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve GET /metrics (Prometheus) on this port."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the metrics port.")
    idempotency_retention_hours: int = Field(
        default=24,
        ge=1,
        le=720,
        description="How long an Idempotency-Key (or a preventDuplicate submit) replays its "
        "first answer; older keys are free again and purged.",
    )
    idempotency_purge_seconds: float = Field(
        default=600,
        ge=0,
        le=86_400,
        description="How often each API process deletes expired idempotency keys; 0 turns "
        "that off (run `pressline idempotency purge` from cron instead).",
    )

    sandbox_step_seconds: float = Field(
        default=60,
        gt=0,
        le=86_400,
        description="Seconds between the steps a sandbox connector's orders take on their "
        "own (passed, in_production, printed, shipped, delivered).",
    )
    billing_state: Literal["to_be_invoiced", "invoiced", "paid"] = Field(
        default="to_be_invoiced",
        description="The financialStatus an order gets once shipped (or canceled after "
        "production started).",
    )
    # Postbacks and the delivery worker (docs/postbacks.md).
    postback_allow_http: bool = Field(
        default=False,
        description="Allow plain http:// webhook URLs, and only into "
        "PRESSLINE_POSTBACK_ALLOWED_NETWORKS (local development).",
    )
    postback_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated networks webhooks may reach, and print file URLs may "
        "point into, although they are not public (e.g. 127.0.0.1/32 for this machine).",
    )
    postback_timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="Seconds a receiver has to answer one delivery."
    )
    embedded_worker: bool = Field(
        default=True,
        description="Run the delivery worker inside `pressline serve`; set false when "
        "`pressline worker` processes do the sending.",
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often an idle worker looks for due work."
    )
    worker_lease_seconds: float = Field(
        default=120,
        ge=1,
        le=3600,
        description="How long a worker holds a claimed delivery; a worker that died holding "
        "it is replaced after this (its delivery is sent again, same webhook-id).",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail postbacks; none: e-mail is not sent."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if required.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="pressline@localhost", description="The From: address of e-mail postbacks."
    )
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS before logging in."
    )

    request_log_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="How long the request log keeps each call to a connector endpoint; "
        "older entries are purged.",
    )
    request_log_purge_seconds: float = Field(
        default=3600,
        ge=0,
        le=86_400,
        description="How often each API process deletes request-log entries past their "
        "retention; 0 turns that off (run `pressline requests purge` from cron instead).",
    )
    request_log_enabled: bool = Field(
        default=True, description="Record every call to a connector endpoint in the request log."
    )

    # --- validators -----------------------------------------------------------------

    @field_validator("trusted_proxies", "postback_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        """Comma-separated, or a JSON list."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", "postback_allowed_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # raises ValueError on junk
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        item = parse_limit(value)  # raises ValueError on junk ("100/sec0nd")
        # limits reads "0/second" as a quota of none and "per 0 seconds" as per 1 second
        if item.amount < 1 or re.search(r"(/|\bper)\s*0+\s*[a-z]", value, re.IGNORECASE):
            raise ValueError("the quota and the window must be at least 1 (100/second)")
        return value.strip()

    @model_validator(mode="after")
    def _lease_outlasts_attempts(self) -> Settings:
        # A claimed delivery is sent within its lease; an attempt that could outlast it
        # would let another worker send the same delivery at the same time.
        if self.worker_lease_seconds <= 2 * self.postback_timeout_seconds:
            raise ValueError(
                "PRESSLINE_WORKER_LEASE_SECONDS must be more than twice "
                "PRESSLINE_POSTBACK_TIMEOUT_SECONDS (one attempt, and the next one's start)"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"{url.get_backend_name()!r} is not supported: use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DB"
            )
        if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            raise ValueError(
                "PostgreSQL is reached through psycopg 3: postgresql+psycopg://USER@HOST/DB"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://")):
            raise ValueError("use redis://HOST:PORT/DB, or rediss://… for TLS")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies]

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in {"127.0.0.1", "0.0.0.0", "::", "::1"} else self.host  # noqa: S104
        return f"https://{host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
