"""Everything the service imports is in the runtime lock file, not only in the test one.

`make run` installs ``requirements/main.txt`` alone; the suite runs with the test extras
installed too, so a library imported by the service but pinned only for the tests would
pass every other test and still break `pressline` on a fresh machine.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "pressline"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned(lock: Path) -> set[str]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)==", lock.read_text(), re.MULTILINE)
    return {_normalized(name) for name in pins}


def _imported_at_run_time(path: Path) -> set[str]:
    """Top-level modules a file imports, leaving out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_is_pinned_in_the_runtime_lock() -> None:
    pinned = _pinned(ROOT / "requirements" / "main.txt")
    providers = packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for module in _imported_at_run_time(path):
            if module in sys.stdlib_module_names or module in {"pressline", "__future__"}:
                continue
            distributions = {_normalized(name) for name in providers.get(module, [])}
            if not distributions & pinned:
                missing.setdefault(module, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported but not in requirements/main.txt: {missing}"


def test_the_check_sees_a_library_pinned_for_the_tests_only() -> None:
    """The check is not vacuous: pytest is pinned for the tests, never for the service."""
    assert "pytest" in _pinned(ROOT / "requirements" / "test.txt")
    assert "pytest" not in _pinned(ROOT / "requirements" / "main.txt")
    assert "pytest" in {_normalized(name) for name in packages_distributions()["pytest"]}
