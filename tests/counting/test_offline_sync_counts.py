"""Count results kept on a handheld without network (issue 16): applied once by the
sync endpoint through ``count_result_record``; a count closed meanwhile is a
conflict for the supervisor."""

import json
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from counting.models import CountLine, CountType
from counting.services import count_open
from tasking.models import SyncEntry
from tests.factories import UserFactory
from wms.roles import COUNTER

pytestmark = pytest.mark.django_db
SYNC = "/handheld/offline/sync/"


@pytest.fixture
def counter(warehouse):
    user = UserFactory(username="pat", warehouses=[warehouse], is_staff=False)
    user.groups.add(Group.objects.get(name=COUNTER))
    return user


@pytest.fixture
def count(warehouse, stocked, controller):
    return count_open(
        warehouse=warehouse, type=CountType.CYCLE, locations=["A-01", "A-03"], actor=controller
    )


def _sync(user, entries):
    client = Client()
    client.force_login(user)
    body = {"deviceId": "counter-1", "entries": entries}
    response = client.post(SYNC, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _result(user, count, seq, **data):
    return {
        "key": uuid.uuid4().hex,
        "kind": "count.result",
        "user": user.pk,
        "seq": seq,
        "happenedAt": timezone.now().isoformat(),
        "data": {"countId": str(count.pk), **data},
    }


def test_offline_count_results_applied_once(counter, count):
    """A quantity and an "empty" location counted offline are recorded once."""
    entries = [
        _result(counter, count, 1, location="A-01", sku="SKU-1", qty="8"),
        _result(counter, count, 2, location="A-03", empty="1"),
    ]
    assert [r["status"] for r in _sync(counter, entries)] == ["applied", "applied"]
    line = CountLine.objects.get(count=count, location__code="A-01", item__sku="SKU-1")
    assert (line.qty_counted, line.counted_by) == (Decimal("8"), counter)
    again = _sync(counter, entries)
    assert [r["status"] for r in again] == ["already_applied", "already_applied"]
    assert SyncEntry.objects.count() == 2
