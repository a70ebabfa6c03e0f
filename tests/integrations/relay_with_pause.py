"""Test harness: ``manage.py outbox_relay`` that freezes after a confirmed publish.

The real command and relay run unchanged; only ``AmqpSink.publish`` is wrapped
so that, after the broker confirmed publish call number ``WMS_TEST_PAUSE_AT``,
the process writes ``WMS_TEST_PAUSE_MARKER`` and sleeps (``WMS_TEST_PAUSE_SECONDS``,
600 by default) before it can mark the events published. A test then SIGKILLs it
"in the middle of a batch", or kills its database connection.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from integrations.relay import AmqpSink  # noqa: E402

_real_publish = AmqpSink.publish
_calls = {"n": 0}


def _publish_then_freeze(self, messages):
    outcome = _real_publish(self, messages)
    _calls["n"] += 1
    if _calls["n"] == int(os.environ["WMS_TEST_PAUSE_AT"]):
        Path(os.environ["WMS_TEST_PAUSE_MARKER"]).write_text(
            "\n".join(m.event_id for m in messages)
        )
        time.sleep(float(os.environ.get("WMS_TEST_PAUSE_SECONDS", 600)))
    return outcome


AmqpSink.publish = _publish_then_freeze

if __name__ == "__main__":
    call_command(*sys.argv[1:])
