"""The reference data every submit, quote and shipment update consults, held in memory.

Routing and pricing run on every order, so they never read the database: each process
keeps one immutable ``Reference`` and swaps it whole when a poller thread sees a
version change (an import by the CLI, possibly on another node). A request holds one
snapshot from start to end, so it never sees half an update.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pressline.catalog.customer_products import CustomerProductSpec
from pressline.catalog.pricing import PriceBook
from pressline.catalog.products import Catalog
from pressline.catalog.shipping import ShippingNetwork
from pressline.db import log_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reference:
    catalog: Catalog
    shipping: ShippingNetwork
    prices: PriceBook
    #: customer id -> product name -> spec
    customer_products: Mapping[uuid.UUID, Mapping[str, CustomerProductSpec]]
    versions: Mapping[str, int]

    def products_of(self, customer_id: uuid.UUID) -> Mapping[str, CustomerProductSpec]:
        return self.customer_products.get(customer_id, {})


class ReferenceStore:
    """The process's current ``Reference``, refreshed when the database says it changed."""

    def __init__(
        self,
        load: Callable[[Reference | None], Reference],
        versions: Callable[[], Mapping[str, int]],
        *,
        interval: float = 2.0,
    ) -> None:
        self._load = load
        self._versions = versions
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current = load(None)

    def refresh(self) -> bool:
        """Reload if any kind's version moved; whether it did."""
        if dict(self._versions()) == dict(self.current.versions):
            return False
        self.current = self._load(self.current)
        return True

    def start(self) -> None:
        """Poll for changes in a daemon thread until ``stop``."""
        self._thread = threading.Thread(target=self._poll, name="pressline-reference", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self.refresh():
                    log.info("reference data reloaded", extra={"versions": self.current.versions})
            except Exception as exc:
                # A bad moment of the database must not stop refreshing for good; the
                # data in memory stays valid meanwhile.
                log_failure(log, exc, "reference data refresh failed; keeping the current copy")
