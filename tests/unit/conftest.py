"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pressline.templates import RenderPool


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    """One template worker process for a test module, started before its first test."""
    pool = RenderPool(size=1)
    pool.warm()
    yield pool
    pool.close()
