"""CLI tables: the row's id or key is printed whole, however narrow the output."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from rich.console import Console

from pressline import cli_support

REQUEST = "req_acfa3a5f0c7a8e9b2d4c1fa3"
ORDER = "9f9ff09f-5891-4d3d-be35-9b302db835a1"


def _printed(monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    monkeypatch.setattr(cli_support, "console", Console(file=out, width=80))  # a pipe's
    cli_support.emit(rows, as_json=False, title="Requests")
    return out.getvalue()


def test_the_rows_id_is_whole_and_the_other_columns_still_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = {
        "id": REQUEST, "at": "2026-11-24T18:36:01.500912+00:00", "connector": "acme-erp",
        "customer": "acme", "method": "POST", "path": "/api/acme-erp/order",
        "status": "200", "latencyMs": "3.1", "orderId": ORDER, "template": "",
    }  # fmt: skip
    printed = _printed(monkeypatch, [row])
    assert REQUEST in printed
    assert ORDER not in printed  # the other id columns give way like the rest
    header = next(line for line in printed.splitlines() if line.startswith("┃"))
    assert header.count("┃") == len(row) + 1, printed  # every column, if shortened
    assert "3.1" in printed


def test_a_key_column_of_free_text_wraps_like_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "a lookup key that is a whole sentence long, longer than any identifier"
    printed = _printed(monkeypatch, [{"key": key, "value": "x"}])
    assert key not in printed  # wrapped onto several lines
    assert "sentence" in printed


def test_one_records_values_are_never_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """`connectors create`, `keys create`, `requests show`: an API key or a JSON body
    piped to another command must come out whole, on the line of its name."""
    out = io.StringIO()
    monkeypatch.setattr(cli_support, "console", Console(file=out, width=80))  # a pipe's
    key = "pk_" + "a" * 24 + ":sk_" + "b" * 43
    body = '{"orderReferenceId": "' + "x" * 120 + '"}'
    cli_support.emit_one({"apiKey": key, "requestBody": body}, as_json=False)
    assert out.getvalue().splitlines() == [f"apiKey: {key}", f"requestBody: {body}"]


def test_json_output_writes_times_in_iso_8601(capsys: pytest.CaptureFixture[str]) -> None:
    at = datetime(2026, 11, 24, 23, 19, 2, 990000, tzinfo=UTC)
    cli_support.emit_one({"deliveredAt": at, "id": uuid.UUID(int=1)}, as_json=True)
    assert json.loads(capsys.readouterr().out) == {
        "deliveredAt": "2026-11-24T23:19:02.990000+00:00",
        "id": "00000000-0000-0000-0000-000000000001",
    }
