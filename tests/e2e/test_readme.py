"""The README's "Try the API" commands work as pasted against a running demo server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def try_the_api_block() -> str:
    section = README.read_text().split("## Try the API", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README has no sh block under 'Try the API'"
    return match.group(1)


def test_the_try_the_api_commands_succeed_as_pasted(server: Server) -> None:
    script = try_the_api_block().replace("https://localhost:8443", server.base_url)
    # One curl per line of output, each ending with its HTTP status, so every call is checked.
    script = script.replace("curl --cacert", "curl -sS -w '\\nHTTP %{http_code}\\n' --cacert")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=server.cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    statuses = re.findall(r"^HTTP (\d{3})$", done.stdout, re.MULTILINE)
    assert statuses == ["200"] * try_the_api_block().count("curl --cacert"), done.stdout
    assert '"shipmentMethods"' in done.stdout and '"fulfillmentCountry":"DE"' in done.stdout
