"""Whether a parcel crosses a customs border, the trigger for seed 000's retail-price rule.

A cross-border order (fulfilled in one country, delivered to another across a customs
border) must carry retail prices for the customs declaration; the orders service refuses
it with ``missing_retail_prices`` otherwise. This module only answers the border question.

The EU is one customs union, so DE -> FR is not cross-border while DE -> GB, DE -> CH,
SE -> NO or US -> CA are. Monaco is inside the Union's customs territory (through France)
and is handled. Out of scope, because an ISO 3166-1 country code cannot express them:
territories of a member state outside the customs territory or the VAT area (Canary
Islands, Ceuta, Melilla, Åland, Büsingen, Heligoland, ...), Northern Ireland's special
status, and the separate customs unions of San Marino and Andorra with the EU (treated
as ordinary third countries).
"""

from __future__ import annotations

from pressline.catalog.model import EU_MEMBER_STATES

#: Countries inside the EU's customs territory: the member states plus Monaco.
EU_CUSTOMS_TERRITORY = EU_MEMBER_STATES | {"MC"}


def crosses_customs_border(origin: str, destination: str) -> bool:
    """Whether goods sent from ``origin`` to ``destination`` (alpha-2 codes) clear customs."""
    if origin == destination:
        return False
    return not (origin in EU_CUSTOMS_TERRITORY and destination in EU_CUSTOMS_TERRITORY)
