"""Settings for ``bench/intake.py``'s gunicorn: the product plus a reference endpoint.

The reference is the least a DRF endpoint can do to accept the same order
durably: token authentication, JSON parsing, and in one transaction the
idempotency record, the order, its lines and the outbox event — no
throttling, no staged validation, no duplicate check, no history, no planning
nudge. Same process, same database, same run: the ratio between the two is
the cost of everything the product adds.

Run as ``DJANGO_SETTINGS_MODULE=intake_server gunicorn --pythonpath bench,. wms.wsgi``;
the reference view and the URLs are in ``bench/intake_urls.py``.
"""

from wms.settings import *  # noqa: F403

ROOT_URLCONF = "intake_urls"
