"""Which shipments cross a customs border (``pressline.catalog.customs``)."""

from __future__ import annotations

import pytest

from pressline.catalog.customs import crosses_customs_border


@pytest.mark.parametrize(
    ("origin", "destination"),
    [
        ("DE", "FR"),  # inside the EU customs union
        ("NL", "DE"),
        ("SE", "FI"),
        ("FR", "MC"),  # Monaco is in the Union's customs territory
        ("GB", "GB"),  # domestic, outside the EU
        ("US", "US"),
        ("DE", "DE"),
    ],
)
def test_domestic_and_intra_eu_shipments_stay_inside_one_customs_area(
    origin: str, destination: str
) -> None:
    assert crosses_customs_border(origin, destination) is False


@pytest.mark.parametrize(
    ("origin", "destination"),
    [
        ("DE", "GB"),  # GB left the customs union
        ("GB", "DE"),
        ("US", "CA"),  # neighbours without a customs union
        ("SE", "NO"),  # Norway is in the EEA, not the customs union
        ("DE", "CH"),
        ("US", "DE"),
        ("DE", "SM"),  # San Marino's own customs union with the EU is out of scope
    ],
)
def test_shipments_leaving_a_customs_area_cross_a_border(origin: str, destination: str) -> None:
    assert crosses_customs_border(origin, destination) is True
