"""scripts/dr-drill: point-in-time restore of an instance's PostgreSQL, RPO and RTO."""

import datetime as dt
import glob
import json
import subprocess
from pathlib import Path

import pytest

from ops.dr_drill import DrillError, restore

ROOT = Path(__file__).resolve().parents[2]


def test_dr_restore_before_the_base_backup_is_refused_and_creates_nothing(tmp_path):
    """A target earlier than the base backup's START TIME fails with a clear message."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "backup_label").write_text(
        "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
        "START TIME: 2026-12-07 06:30:00 UTC\n"
    )
    target = dt.datetime(2026, 12, 7, 6, 29, 59, tzinfo=dt.UTC)
    with pytest.raises(DrillError, match="is before the base backup") as refused:
        restore(base, tmp_path / "wal", target, tmp_path / "restored", Path("/nonexistent"))
    assert "Nothing was created or changed" in str(refused.value)
    assert not (tmp_path / "restored").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"),
    reason="Debian's PostgreSQL server binaries are not installed",
)
def test_dr_drill_end_to_end():
    """Restored to the target: A, B back, C gone, inventory clean, no event lost or doubled."""
    result = subprocess.run(
        [str(ROOT / "scripts" / "dr-drill"), "--receipts", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT="))
    figures = json.loads(line.removeprefix("RESULT="))
    assert figures["batches_after_restore"] == {"A": 5, "B": 5, "C": 0, "E": 0}
    assert figures["verify_inventory_clean"]
    assert figures["rpo_seconds_at_target"] == 0
    assert figures["events_restored_but_never_delivered"] == 0
    assert figures["redelivered_duplicates_deduped"] >= 5  # batch B, published again
    assert figures["refused_target_before_backup"]
    assert "RTO:" in result.stdout and "RPO at the target" in result.stdout
