"""``pressline catalog|shipping|rates|customer-products``: the operator's reference data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from pressline.catalog import service
from pressline.catalog.customer_products import CustomerProductSpec
from pressline.cli_support import JsonOption, console, emit, reports_errors, transaction
from pressline.db import utcnow

_ABOUT = {
    "catalog": "products: productUid prefixes, segments and values, names, weights, prices",
    "shipping": "production facilities and shipment methods with their rates and transit times",
    "rates": "exchange rates, VAT rates and the packaging price",
}

FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A YAML file.")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
]


def reference_app(kind: str) -> typer.Typer:
    """``import`` and ``export`` for one kind of reference file."""
    group = typer.Typer(
        help=f"Import and export the {kind} file ({_ABOUT[kind]}).", no_args_is_help=True
    )

    @group.command("import")
    @reports_errors
    def import_(file: FileArgument) -> None:
        """Replace the file in force. A file with any error is refused whole, with every
        problem listed by line, and the previous file stays in force."""
        with transaction() as conn:
            service.import_file(
                conn, kind=kind, text=file.read_text(), source=str(file), now=utcnow()
            )
        console.print(f"Imported {file} as the {kind} file; running servers pick it up shortly.")

    @group.command("export")
    def export(output: OutputOption = None) -> None:
        """Print (or write) the file in force: the last import, else the starter file."""
        with transaction() as conn:
            text = service.export_file(conn, kind=kind)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)

    return group


customer_products = typer.Typer(
    help="Customers' own product names, mapping variant options to productUids.",
    no_args_is_help=True,
)
Customer = Annotated[str, typer.Argument(help="The customer's customerReferenceId.")]


@customer_products.command("import")
@reports_errors
def import_customer_products(customer: Customer, file: FileArgument) -> None:
    """Create or replace the customer's products listed in FILE (every option combination
    must resolve in the catalog in force, or nothing is imported)."""
    with transaction() as conn:
        names = service.import_customer_products(
            conn, customer_reference_id=customer, text=file.read_text(), source=str(file),
            now=utcnow(),
        )  # fmt: skip
    console.print(f"Imported {len(names)} product(s) for {customer}: {', '.join(names)}")


def _options(entries: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """``Option=Value:code=value,code=value`` entries as the spec's options."""
    options: dict[str, dict[str, dict[str, str]]] = {}
    for entry in entries:
        choice, _, segments = entry.partition(":")
        option, _, value = choice.partition("=")
        pairs = [pair.partition("=") for pair in segments.split(",") if pair]
        if not option or not value or not pairs or any(not code or not v for code, _, v in pairs):
            raise typer.BadParameter(
                f"'{entry}' is not Option=Value:code=value[,code=value]", param_hint="--option"
            )
        options.setdefault(option, {})[value] = {code: v for code, _, v in pairs}
    return options


@customer_products.command("create")
@reports_errors
def create_customer_product(
    customer: Customer,
    name: Annotated[str, typer.Argument(help="The productName integrators will send.")],
    base: Annotated[
        str,
        typer.Option(
            "--base", help="Catalog prefix plus the segments every variant shares, e.g. cards."
        ),
    ],
    option: Annotated[
        list[str],
        typer.Option(
            "--option",
            help="One option value and the segments it sets, repeatable: "
            "'Size=Standard:pf=85x55-mm'.",
        ),
    ],
    orientation: Annotated[
        str | None, typer.Option(help="hor or ver, when every variant has the same one.")
    ] = None,
) -> None:
    """Create (or replace) one customer product; every combination must resolve."""
    try:
        spec = CustomerProductSpec.model_validate(
            {"name": name, "base_product_uid": base, "orientation": orientation,
             "options": _options(option)}
        )  # fmt: skip
    except ValidationError as exc:
        raise typer.BadParameter(str(exc.errors(include_url=False)[0]["msg"])) from None
    with transaction() as conn:
        service.save_customer_products(
            conn, customer_reference_id=customer, specs=[spec], source=f"'{name}'",
            now=utcnow(),
        )  # fmt: skip
    console.print(f"Saved '{name}' for {customer}.")


@customer_products.command("list")
@reports_errors
def list_customer_products(customer: Customer, as_json: bool = JsonOption) -> None:
    """List the customer's products and their options."""
    with transaction() as conn:
        specs = service.list_customer_products(conn, customer_reference_id=customer)
    emit(
        [
            {
                "productName": spec.name,
                "options": "; ".join(
                    f"{option}: {', '.join(values)}" for option, values in spec.options.items()
                ),
            }
            for spec in specs
        ],
        as_json=as_json,
        title="Customer products",
    )


@customer_products.command("delete")
@reports_errors
def delete_customer_product(
    customer: Customer, name: Annotated[str, typer.Argument(help="The productName.")]
) -> None:
    """Delete one of the customer's products (orders already placed keep their product)."""
    with transaction() as conn:
        service.delete_customer_product(
            conn, customer_reference_id=customer, name=name, now=utcnow()
        )
    console.print(f"Deleted '{name}' for {customer}.")
