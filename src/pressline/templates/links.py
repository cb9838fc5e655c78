"""Which templates a connector applies, cached in the API process.

Submit and cancel ask for their connector's links on every request, so the answer
must cost a dictionary lookup, not a query. Each process keeps the links of the
connectors it served (with the lookup tables of the templates' customer); the cache
is dropped when the database's ``template_revision`` moved, which each process reads
at most once per ``interval`` seconds, on a request. A change made from the CLI is
so applied by every process within ``interval`` (PRESSLINE_REFERENCE_REFRESH_SECONDS).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Connection

from pressline.db import Database
from pressline.templates import store
from pressline.templates.lookups import NO_LOOKUPS, LookupResolver, LookupTables
from pressline.templates.model import TemplateSource
from pressline.templates.render import default_pool
from pressline.templates.store import Endpoint, Role

log = logging.getLogger(__name__)

#: Connectors whose links one process keeps; beyond it the cache starts over.
MAX_CONNECTORS = 10_000


@dataclass(frozen=True, slots=True)
class EndpointLinks:
    """A connector's linked templates, and the lookup tables they read."""

    templates: Mapping[tuple[Endpoint, Role], TemplateSource] = field(default_factory=dict)
    lookups: LookupResolver = NO_LOOKUPS
    #: Whose renders these are, for the render pool's turns: the connector's id.
    owner: uuid.UUID | None = None

    def get(self, endpoint: Endpoint, role: Role) -> TemplateSource | None:
        return self.templates.get((endpoint, role))


NO_LINKS = EndpointLinks()


def load_links(conn: Connection, connector_id: uuid.UUID) -> EndpointLinks:
    """A connector's links from the database (one query when it has none)."""
    linked = store.connector_links(conn, connector_id)
    if not linked:
        return NO_LINKS
    owners = {item.customer_id for item in linked}
    tables = [table for owner in owners for table in store.load_lookups(conn, owner)]
    try:
        lookups = LookupTables(tables)
    except ValueError:  # two customers' tables of one name: keep the first of each
        unique = {table.name: table for table in reversed(tables)}
        lookups = LookupTables(unique.values())
    templates = {(item.endpoint, item.role): item.template for item in linked}
    return EndpointLinks(templates, lookups, owner=connector_id)


async def warm_if_linked(db: Database) -> None:
    """Start the render workers in the background if any endpoint applies a template,
    so the first templated request does not wait for them."""
    if await db.read(store.any_links):
        threading.Thread(target=_warm, name="pressline-template-warm", daemon=True).start()


def _warm() -> None:
    try:
        default_pool().warm()
    except Exception:
        log.exception("starting the template render workers failed; they start on first use")


class LinkCache:
    """The links of the connectors this process served, valid for one revision."""

    def __init__(self, *, interval: float = 2.0) -> None:
        self._interval = interval
        self._links: dict[uuid.UUID, EndpointLinks] = {}
        self._revision: int | None = None
        self._checked = float("-inf")

    async def for_connector(self, db: Database, connector_id: uuid.UUID | None) -> EndpointLinks:
        if connector_id is None:
            return NO_LINKS
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._checked = now
            current = await db.read(store.revision)
            if current != self._revision:
                self._links.clear()
                self._revision = current
        links = self._links.get(connector_id)
        if links is None:
            links = await db.read(partial(load_links, connector_id=connector_id))
            if len(self._links) >= MAX_CONNECTORS:
                self._links.clear()
            self._links[connector_id] = links
        return links

    def invalidate(self) -> None:
        """Check the revision on the next request (after a change made in this process)."""
        self._checked = float("-inf")
