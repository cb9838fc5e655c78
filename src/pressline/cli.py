"""The ``pressline`` command: serve, migrate, openapi, and the operator's commands."""

from __future__ import annotations

import contextlib
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.exc import OperationalError

from pressline import server
from pressline.accounts.cli import connectors, customers, endpoint_urls, keys
from pressline.catalog.cli import customer_products, reference_app
from pressline.cli_support import console, database_failure, err_console
from pressline.config import Settings, get_settings
from pressline.db import Database
from pressline.idempotency.cli import idempotency
from pressline.migrate import Migrated, upgrade
from pressline.orders import examples
from pressline.orders.cli import orders
from pressline.postbacks.cli import deliveries as postback_deliveries
from pressline.postbacks.cli import triggers as postback_triggers
from pressline.production.cli import facilities
from pressline.requestlog import cli as requests_cli
from pressline.templates import cli as templates_cli

app = typer.Typer(
    help="Pressline: order intake and order management for print service providers.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(customers, name="customers")
app.add_typer(connectors, name="connectors")
app.add_typer(keys, name="keys")
app.add_typer(orders, name="orders")
app.add_typer(facilities, name="facilities")
for _kind in ("catalog", "shipping", "rates"):
    app.add_typer(reference_app(_kind), name=_kind)
app.add_typer(customer_products, name="customer-products")
app.add_typer(idempotency, name="idempotency")
app.add_typer(postback_triggers, name="triggers")
app.add_typer(postback_deliveries, name="deliveries")
app.add_typer(templates_cli.templates, name="templates")
app.add_typer(templates_cli.lookups, name="lookups")
app.add_typer(requests_cli.requests, name="requests")


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Create the sandbox customer, connector and key on first start.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="API processes (PostgreSQL only).")
    ] = None,
) -> None:
    """Migrate the database and serve the API over HTTPS (settings: PRESSLINE_* variables)."""
    settings = get_settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    with contextlib.ExitStack() as held:
        try:
            tls = server.resolve_tls(settings)
            held.enter_context(server.sole_server(settings))
            _say_migrated(server.prepare(settings))
        except server.ServeError as exc:
            err_console.print(
                f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None
        except OperationalError as exc:
            raise database_failure(exc, hint="is the database server running?") from None
        api_key = None
        if demo:
            db = Database(settings.database_url)
            try:
                api_key = server.ensure_demo(db)
            finally:
                db.close()
        _banner(settings.base_url(), tls, api_key)
        server.run(settings, tls)


def _banner(base: str, tls: server.Tls | None, api_key: str | None) -> None:
    """What serve prints; with ``api_key`` (``--demo``) the endpoints and a curl too."""
    console.print(f"[bold green]Pressline[/bold green] serving on {base}")
    cacert = ""
    if tls and tls.self_signed:
        cacert = f"--cacert {shlex.quote(str(tls.cert))} "
        console.print(
            f"Self-signed certificate for localhost: {tls.cert}\n"
            f"  trust it per request with: curl {cacert}…"
        )
    if api_key is None:
        return
    for name, url in endpoint_urls(server.DEMO_PREFIX).items():
        console.print(f"  {name:<15} {url}", highlight=False)
    # A fresh reference each start: pasted again on a later run, the seed's own one
    # would be a duplicate (409).
    reference = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    body = json.dumps({**examples.SUBMIT["reference"], "orderReferenceId": reference}, indent=2)
    console.print(f"\nX-API-KEY: {api_key}\n", soft_wrap=True, highlight=False)
    console.print("Submit the documentation's example order:\n")
    console.print(
        f"curl {cacert}-X POST {base}/api/{server.DEMO_PREFIX}/order \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -H 'X-API-KEY: {api_key}' \\\n"
        f"  --data-raw {shlex.quote(body)}\n",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command()
def worker() -> None:
    """Send postbacks and facility hand-offs, and run order timers, until SIGTERM/SIGINT.

    `pressline serve` runs one inside itself unless PRESSLINE_EMBEDDED_WORKER=false; run
    more of these for scale (PostgreSQL: they never send one attempt twice).
    """
    from pressline.worker import run_process

    run_process(get_settings())


@app.command()
def migrate() -> None:
    """Upgrade the database (PRESSLINE_DATABASE_URL) to the current schema.

    Safe to run from several processes at once: the others wait, then have nothing to do.
    A database a newer Pressline already migrated is left as it is.
    """
    db = Database(get_settings().database_url)
    try:
        done = upgrade(db.write_engine)
    except OperationalError as exc:
        raise database_failure(exc, hint="is the database server running?") from None
    finally:
        db.close()
    _say_migrated(done)
    if not done.ahead and done.before == done.after:
        console.print(f"Database is up to date (revision {done.after}).")


def _say_migrated(done: Migrated) -> None:
    """What ``migrate`` and ``serve`` say when migrating changed or skipped something."""
    if done.ahead:
        err_console.print(
            f"[yellow]warning:[/yellow] the database is at revision {done.before}, newer "
            "than this Pressline knows: left as it is. Upgrade this Pressline.",
            highlight=False,
        )
    elif done.before != done.after:
        console.print(f"Database upgraded from revision {done.before or 'none'} to {done.after}.")


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; stdout if omitted.")
    ] = None,
) -> None:
    """Write the OpenAPI document of the HTTP API."""
    from pressline.app import create_app

    document = json.dumps(create_app(get_settings()).openapi(), indent=2)
    if output is None:
        typer.echo(document)
    else:
        output.write_text(document + "\n")
        console.print(f"Wrote {output}")


def main() -> None:
    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # A PRESSLINE_* variable the settings refuse: say which, as serve's other checks do.
        for error in exc.errors():
            name = f"PRESSLINE_{str(error['loc'][0]).upper()}" if error["loc"] else "PRESSLINE_*"
            message = escape(error["msg"].removeprefix("Value error, "))
            err_console.print(f"[red]error:[/red] {name}: {message}", highlight=False)
        raise SystemExit(2) from None
