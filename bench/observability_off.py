"""The "everything off" side of ``bench/observability_overhead.py``: the product's WSGI
app (``observability_off:application``, settings ``intake_server``) without
django-prometheus's request middleware and with the business metrics of
``wms.metrics`` recording nothing. The bench also runs it with ``LOG_LEVEL=WARNING``
(no line per request) and no OTLP endpoint (no tracing).
"""

from django.conf import settings

# Before the middleware loads (wms.wsgi below): what remains is what production
# runs with no metrics at all.
settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.startswith("django_prometheus")]

import wms.wsgi  # noqa: E402  (sets Django up: the imports below need it)
from wms import metrics  # noqa: E402
from wms.idempotency import idempotent_request_handled  # noqa: E402

application = wms.wsgi.application
metrics.after_commit = lambda record: None
idempotent_request_handled.disconnect(dispatch_uid="wms.metrics")
