"""The direction between apps is enforced: lint-imports keeps the tree, fails an upward import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["wms", "inventory", "inbound", "outbound", "tasking", "counting", "integrations"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path):
    """The apps and the contracts, copied, so a test may add a forbidden import."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_import_contract():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_copy_of_the_tree_keeps_them_too(tree_copy):
    """The control for the next test: the copy breaks only by what that test adds."""
    result = _lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "forbidden_import"),
    [
        ("outbound/services/probe.py", "from tasking.services import pick_confirm\n"),
        ("wms/probe.py", "def late():\n    from inventory.models import Item\n"),
        ("integrations/webhooks_probe.py", "from integrations.tasks import outbox_relay_task\n"),
    ],
    ids=["outbound-imports-tasking", "wms-imports-inventory-in-a-function", "webhooks-up"],
)
def test_an_upward_import_breaks_the_contracts(tree_copy, module, forbidden_import):
    (tree_copy / module).write_text(forbidden_import)
    if module.startswith("integrations/webhooks_probe"):
        # Make the probe part of a layer: webhooks itself imports it.
        webhooks = tree_copy / "integrations" / "webhooks.py"
        webhooks.write_text(webhooks.read_text() + "\nfrom . import webhooks_probe  # noqa\n")
    result = _lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
