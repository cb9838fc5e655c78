"""Catalog use cases: import and export reference files, customers' products, loading.

Reference kinds are operator files; without an import the starter file shipped in
``catalog/data`` is in force. Imports validate the whole file, and against the other
kinds in force (a catalog that drops a product a customer product uses is refused),
before anything is stored: a bad file changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from importlib import resources
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from pressline.accounts import service as accounts
from pressline.catalog import documents, repository
from pressline.catalog.customer_products import (
    CustomerProductsFile,
    CustomerProductSpec,
    resolve_variant,
)
from pressline.catalog.model import Unresolvable
from pressline.catalog.pricing import PriceBook, RatesFile
from pressline.catalog.products import Catalog, CatalogFile
from pressline.catalog.reference import Reference, ReferenceStore
from pressline.catalog.shipping import ShippingFile, ShippingNetwork
from pressline.db import Database
from pressline.errors import FieldError, InvalidReferenceFile, NotFound

CUSTOMER_PRODUCTS = "customer_products"


@dataclass(frozen=True, slots=True)
class Kind:
    model: type[BaseModel]
    compile: Callable[[Any], Any]
    starter: str


KINDS: dict[str, Kind] = {
    "catalog": Kind(CatalogFile, Catalog.from_file, "catalog.yaml"),
    "shipping": Kind(ShippingFile, ShippingNetwork.from_file, "shipping.yaml"),
    "rates": Kind(RatesFile, PriceBook.from_file, "rates.yaml"),
}


def starter_text(kind: str) -> str:
    return (resources.files("pressline.catalog") / "data" / KINDS[kind].starter).read_text()


def _compiled(kind: str, text: str, source: str) -> Any:
    spec = KINDS[kind]
    return spec.compile(documents.parse(spec.model, text, source=source))


def load(conn: Connection, previous: Reference | None = None) -> Reference:
    """Everything in force, compiled for the hot paths; kinds whose version has not
    moved since ``previous`` are reused rather than parsed again."""
    stored = repository.documents(conn)
    versions = {kind: row.version for kind, row in stored.items()}
    compiled: dict[str, Any] = {}
    for kind in KINDS:
        if previous is not None and previous.versions.get(kind) == versions.get(kind):
            compiled[kind] = getattr(previous, _FIELD[kind])
            continue
        row = stored.get(kind)
        text = row.body if row is not None and row.body is not None else starter_text(kind)
        compiled[kind] = _compiled(kind, text, source=f"the stored {kind} file")
    products: dict[uuid.UUID, dict[str, CustomerProductSpec]] = {}
    if previous is not None and previous.versions.get(CUSTOMER_PRODUCTS) == versions.get(
        CUSTOMER_PRODUCTS
    ):
        products = {key: dict(value) for key, value in previous.customer_products.items()}
    else:
        for row in repository.all_customer_products(conn):
            spec = CustomerProductSpec.model_validate(row.spec)
            products.setdefault(row.customer_id, {})[row.name] = spec
    return Reference(
        catalog=compiled["catalog"],
        shipping=compiled["shipping"],
        prices=compiled["rates"],
        customer_products=products,
        versions=versions,
    )


#: Where each kind lives on ``Reference``.
_FIELD = {"catalog": "catalog", "shipping": "shipping", "rates": "prices"}


def example_customer_products() -> str:
    """The example customer products shipped with Pressline (the guide's Business Card)."""
    data = resources.files("pressline.catalog") / "data"
    return (data / "customer_products.example.yaml").read_text()


def versions(conn: Connection) -> dict[str, int]:
    return repository.versions(conn)


def import_file(conn: Connection, *, kind: str, text: str, source: str, now: datetime) -> None:
    """Replace a kind's file; ``InvalidReferenceFile`` (and nothing stored) if it is bad."""
    compiled = _compiled(kind, text, source)
    if kind == "catalog":
        _check_customer_products(conn, compiled, source)
    repository.bump(conn, kind, now=now, body=text)


def export_file(conn: Connection, *, kind: str) -> str:
    row = repository.documents(conn).get(kind)
    return row.body if row is not None and row.body is not None else starter_text(kind)


def _check_customer_products(conn: Connection, catalog: Catalog, source: str) -> None:
    problems = []
    for row in repository.all_customer_products(conn):
        spec = CustomerProductSpec.model_validate(row.spec)
        problem = _first_unresolvable(spec, catalog)
        if problem is not None:
            problems.append(
                FieldError(
                    "invalid_reference_file",
                    None,
                    f"customer product '{spec.name}' would no longer resolve: {problem}",
                )
            )
    if problems:
        raise InvalidReferenceFile(source, problems)


def _first_unresolvable(spec: CustomerProductSpec, catalog: Catalog) -> str | None:
    for variant in spec.combinations():
        try:
            catalog.resolve(resolve_variant(spec, variant))
        except Unresolvable as exc:
            return f"{variant}: {exc.message}"
    return None


def import_customer_products(
    conn: Connection, *, customer_reference_id: str, text: str, source: str, now: datetime
) -> list[str]:
    """Create or replace every product in the file for the customer; their names."""
    parsed = documents.parse(CustomerProductsFile, text, source=source)
    return save_customer_products(
        conn,
        customer_reference_id=customer_reference_id,
        specs=list(parsed.products),
        source=source,
        now=now,
    )


def save_customer_products(
    conn: Connection,
    *,
    customer_reference_id: str,
    specs: list[CustomerProductSpec],
    source: str,
    now: datetime,
) -> list[str]:
    """Create or replace ``specs`` for the customer, all or none: every option combination
    must resolve in the catalog in force."""
    customer_id = accounts.customer_id(conn, customer_reference_id)
    catalog = _compiled("catalog", export_file(conn, kind="catalog"), "the catalog in force")
    problems = []
    for index, spec in enumerate(specs):
        problem = _first_unresolvable(spec, catalog)
        if problem is not None:
            problems.append(FieldError("invalid_reference_file", f"products.{index}", problem))
    if problems:
        raise InvalidReferenceFile(source, problems)
    for spec in specs:
        dumped = spec.model_dump(mode="json")
        repository.put_customer_product(conn, customer_id, spec.name, dumped, now)
    repository.bump(conn, CUSTOMER_PRODUCTS, now=now)
    return [spec.name for spec in specs]


def list_customer_products(
    conn: Connection, *, customer_reference_id: str
) -> list[CustomerProductSpec]:
    customer_id = accounts.customer_id(conn, customer_reference_id)
    rows = repository.customer_products_of(conn, customer_id)
    return [CustomerProductSpec.model_validate(row.spec) for row in rows]


def delete_customer_product(
    conn: Connection, *, customer_reference_id: str, name: str, now: datetime
) -> None:
    customer_id = accounts.customer_id(conn, customer_reference_id)
    if not repository.delete_customer_product(conn, customer_id, name):
        raise NotFound(f"Customer '{customer_reference_id}' has no product named '{name}'.")
    repository.bump(conn, CUSTOMER_PRODUCTS, now=now)


def open_store(database: Database, *, interval: float = 2.0) -> ReferenceStore:
    """The process's reference data, loaded now; ``start()`` it to follow changes."""
    return ReferenceStore(
        lambda previous: database.read_blocking(partial(load, previous=previous)),
        lambda: database.read_blocking(versions),
        interval=interval,
    )


def starter_reference() -> Reference:
    """The starter files alone, without a database (benchmark seeding, tests)."""
    compiled = {kind: _compiled(kind, starter_text(kind), kind) for kind in KINDS}
    return Reference(
        catalog=compiled["catalog"],
        shipping=compiled["shipping"],
        prices=compiled["rates"],
        customer_products={},
        versions={},
    )
