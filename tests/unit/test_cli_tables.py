"""CLI tables: ids and keys are printed whole, however narrow the output."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from pressline import cli_support

KEY = "pk_d079d55a5f71e966152b7ae9"
REQUEST = "req_acfa3a5f0c7a8e9b2d4c1fa3e6"


@pytest.mark.parametrize("width", [80, 100])  # 80: rich's width for a pipe
def test_ids_and_keys_are_never_cut_or_wrapped(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    out = io.StringIO()
    monkeypatch.setattr(cli_support, "console", Console(file=out, width=width))
    rows = [
        {
            "key": KEY,
            "createdAt": "2026-11-24T18:36:01.500912+00:00",
            "requestId": REQUEST,
            "note": "a long free text column that can wrap or shrink as it likes",
        }
    ]
    cli_support.emit(rows, as_json=False, title="Keys")
    printed = out.getvalue()
    assert KEY in printed
    assert REQUEST in printed
    assert "2026-11-24T18:36:01.500912+00:00" not in printed  # the other columns gave way
