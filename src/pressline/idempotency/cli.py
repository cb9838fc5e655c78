"""``pressline idempotency``: the operator's commands for idempotency keys."""

from __future__ import annotations

from datetime import timedelta

import typer

from pressline.cli_support import JsonOption, console, emit_one, transaction
from pressline.config import get_settings
from pressline.db import utcnow
from pressline.idempotency import service
from pressline.purging import purge_in_chunks

idempotency = typer.Typer(
    help="Idempotency keys: what lets clients retry writes without duplicates.",
    no_args_is_help=True,
)


@idempotency.command()
def purge(as_json: bool = JsonOption) -> None:
    """Delete keys older than PRESSLINE_IDEMPOTENCY_RETENTION_HOURS (24 by default).

    Every `pressline serve` process already does this every
    PRESSLINE_IDEMPOTENCY_PURGE_SECONDS; run it from cron when that is set to 0.
    Expired keys replay nothing even before they are deleted.
    """
    retention = timedelta(hours=get_settings().idempotency_retention_hours)
    before = utcnow() - retention
    total = purge_in_chunks(transaction, service.purge, before=before)
    if as_json:  # as `requests purge` and `deliveries purge` have it
        emit_one({"deleted": total, "createdBefore": before}, as_json=True)
        return
    keys = "key" if total == 1 else "keys"
    console.print(f"Deleted {total} idempotency {keys} created before {before:%Y-%m-%d %H:%M} UTC.")
