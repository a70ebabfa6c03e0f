"""System checks of the kernel.

The secret-key check is a deployment check (``manage.py check --deploy``): offline
commands such as makemigrations run the default checks and need no secret, while
the web process (wms/wsgi.py, also used by runserver) and the Celery worker refuse
to start without one.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


def require_secret_key() -> None:
    """Refuse to serve without SECRET_KEY: API tokens, webhook secrets and sessions
    derive from it. Raises ImproperlyConfigured with one clear line."""
    try:
        settings.SECRET_KEY  # noqa: B018  (Django validates it on access)
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DJANGO_DEBUG is off (set the SECRET_KEY environment "
            "variable)."
        ) from exc


@register(Tags.security, deploy=True)
def secret_key_check(app_configs, **kwargs):
    try:
        require_secret_key()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="wms.E001")]
    return []
