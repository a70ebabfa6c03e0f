"""Release metadata for progressive delivery: version and migration state, /readyz and /metrics."""

import pytest
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db


def test_readyz_reports_release_and_migration_state(api_client, settings):
    """/readyz names the instance, the release version and commit, and no pending migrations."""
    body = api_client.get("/readyz").json()
    assert body["instanceId"] == settings.WMS_INSTANCE_ID
    assert body["release"]["version"]
    assert "commit" in body["release"]
    assert body["release"]["migrations"]["pending"] == 0
    assert body["release"]["migrations"]["ahead"] == []
    assert body["release"]["migrations"]["applied"] > 10


def test_readyz_stays_ready_when_a_newer_release_migrated_ahead(api_client):
    """A schema migrated by the next release (expand step) keeps this release ready, and says so."""
    MigrationRecorder.Migration.objects.create(app="outbound", name="9999_next_release_expand")
    response = api_client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["release"]["migrations"]["ahead"] == [
        "outbound.9999_next_release_expand"
    ]
    metrics = api_client.get("/metrics").content.decode()
    assert 'wms_migrations_ahead{instance_id="wms-test"} 1.0' in metrics


def test_metrics_carry_release_info(api_client, settings):
    """/metrics has wms_release_info labelled with the instance id and version."""
    api_client.get("/readyz")
    metrics = api_client.get("/metrics").content.decode()
    assert f'wms_release_info{{commit="unknown",instance_id="{settings.WMS_INSTANCE_ID}"' in metrics
    assert f'wms_migrations_pending{{instance_id="{settings.WMS_INSTANCE_ID}"}} 0.0' in metrics
