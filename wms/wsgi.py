import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

from wms.telemetry import telemetry_init

telemetry_init("web")  # before the middleware loads: Django's tracing is one of them
application = get_wsgi_application()

from wms.checks import require_secret_key  # noqa: E402  (after Django is set up)

require_secret_key()
