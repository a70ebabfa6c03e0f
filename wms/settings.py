"""Settings for one WMS instance, read from environment variables only.

PostgreSQL is the one database: ``DATABASE_URL`` is required (scripts/demo sets
it to an embedded PostgreSQL it starts). Without ``CELERY_BROKER_URL`` the
broker is file-backed, so the demo needs no services; production points it at
RabbitMQ.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("WMS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "insecure-development-key-only-for-debug"
# Without DEBUG the key is required wherever it is used: the web process
# (wms/wsgi.py, also runserver's) and the Celery worker refuse to start without
# it, `manage.py check --deploy` reports wms.E001, and Django raises
# ImproperlyConfigured on any use of an empty key. Offline commands
# (makemigrations, compilemessages) need none.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Instance identity (seed 002: WMSInstance) ------------------------------
WMS_INSTANCE_ID = env.str("WMS_INSTANCE_ID", default="wms-local")
WMS_REGION = env.str("WMS_REGION", default="local")
WMS_COUNTRY = env.str("WMS_COUNTRY", default="ES")
WMS_LOCALE = env.str("WMS_LOCALE", default="en")
WMS_CURRENCY = env.str("WMS_CURRENCY", default="EUR")
TIME_ZONE = env.str("WMS_TIME_ZONE", default="Europe/Madrid")
USE_TZ = True  # stored in UTC, shown in TIME_ZONE

INSTALLED_APPS = [
    # modeltranslation must come before the admin (STYLE.md).
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI served from our static files: the docs work without internet and
    # under a CSP of this origin only.
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "import_export",
    "django_prometheus",
    "csp",
    "axes",
    "wms",
    "inventory",
    "inbound",
    "outbound",
    "tasking",
    "counting",
    "integrations",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "wms.middleware.CorrelationIdMiddleware",
    "wms.middleware.InstanceGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last of the request middleware (django-axes): turns a locked-out login into its page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "wms.urls"
WSGI_APPLICATION = "wms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "wms.context_processors.instance",
            ],
        },
    },
]

# PostgreSQL only (STYLE.md). Without DATABASE_URL nothing guesses: scripts/demo
# starts an embedded PostgreSQL and sets it; a server deployment sets its own.
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: point it at PostgreSQL (postgres://user@host:5432/wms) "
        "or run scripts/demo, which starts an embedded PostgreSQL."
    )
DATABASES = {"default": env.db_url("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DATABASE_URL must name a PostgreSQL database (postgres://...), "
        f"not {DATABASES['default']['ENGINE']}: PostgreSQL is the only supported engine."
    )
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django's cursors bind client-side and never prepare; the inventory posting
# engine runs its few, hot statements prepared on the same connection (psycopg
# prepares a statement from its 2nd use). 0 disables it (e.g. behind a
# PgBouncer older than 1.21 in transaction mode).
_prepare_threshold = env.int("DB_PREPARE_THRESHOLD", default=2)
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = _prepare_threshold or None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://wms")}
# django-environ passes URL query options through lowercased ("key_prefix"),
# but Django reads KEY_PREFIX and VERSION: uppercase them, or ?key_prefix=… in
# CACHE_URL is silently ignored. Without one, the instance id is the prefix, so
# two instances (cells) sharing a Redis database never read each other's keys.
for _option in ("key_prefix", "version", "key_function"):
    if _option in CACHES["default"]:
        CACHES["default"][_option.upper()] = CACHES["default"].pop(_option)
CACHES["default"].setdefault("KEY_PREFIX", WMS_INSTANCE_ID)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # The same backend, one redis client per pool instead of one per call (wms/cache.py).
    CACHES["default"]["BACKEND"] = "wms.cache.RedisCache"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before any password is checked (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/handheld/login/"
LOGIN_REDIRECT_URL = "/handheld/"

# --- i18n ---------------------------------------------------------------------
LANGUAGE_CODE = WMS_LOCALE
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_LANGUAGES = ("en", "es")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Admin CSV import/export (django-import-export) --------------------------
# An import is one transaction: a file with any bad row imports nothing.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# --- API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "wms.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "wms.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {
        "store": env.str("WMS_STORE_RATE", default="50/second"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WMS API",
    "DESCRIPTION": "External contract of one WMS instance (see CONTRACT.md).",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Distinct names for choice sets that share a field name ("type", "status").
    "ENUM_NAME_OVERRIDES": {
        "InboundTypeEnum": "inbound.models.InboundType",
        "InboundStatusEnum": "inbound.models.InboundStatus",
        "PutAwayTaskStatusEnum": "inbound.models.PutAwayTaskStatus",
        "ReceivingExceptionTypeEnum": "inbound.models.ReceivingExceptionType",
        "ReceivingExceptionStatusEnum": "inbound.models.ReceivingExceptionStatus",
        "OrderStatusEnum": "outbound.models.OrderStatus",
        "PickTaskStatusEnum": "tasking.models.PickTaskStatus",
        "AdjustmentStatusEnum": "inventory.models.AdjustmentState",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "wms.schema.add_problem_responses",
    ],
}

# --- Celery ---------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "out").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        # kombu otherwise writes its control exchange files to ./control
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# Do not lose work: ack after the task ran, requeue when the worker dies, take
# one message at a time (tasks are idempotent, so a redelivery is harmless).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# One queue name per deployment (tests and benches start workers on their own).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# --- Event bus (outbox relay target) -----------------------------------------
# Empty: the embedded default records relayed events in the database only.
WMS_EVENT_BUS_URL = env.str("WMS_EVENT_BUS_URL", default="")
WMS_EVENT_EXCHANGE = env.str("WMS_EVENT_EXCHANGE", default="wms.events")
# A valid API token is remembered per process this long: a revocation made in
# another process takes effect within it (integrations.authentication).
WMS_TOKEN_CACHE_SECONDS = env.float("WMS_TOKEN_CACHE_SECONDS", default=5.0)
# An API token expires this many days after it was issued (0: never); rotate before.
WMS_API_TOKEN_DAYS = env.int("WMS_API_TOKEN_DAYS", default=365)
WMS_IDEMPOTENCY_RETENTION_HOURS = env.int("WMS_IDEMPOTENCY_RETENTION_HOURS", default=72)
# Relay (integrations.relay): seconds to wait for publisher confirms of a batch;
# attempts before an event the broker refuses is dead-lettered; retry backoff.
WMS_OUTBOX_CONFIRM_TIMEOUT = env.float("WMS_OUTBOX_CONFIRM_TIMEOUT", default=10.0)
WMS_OUTBOX_MAX_ATTEMPTS = env.int("WMS_OUTBOX_MAX_ATTEMPTS", default=10)
WMS_OUTBOX_BACKOFF_BASE_SECONDS = env.float("WMS_OUTBOX_BACKOFF_BASE_SECONDS", default=2.0)
WMS_OUTBOX_BACKOFF_MAX_SECONDS = env.float("WMS_OUTBOX_BACKOFF_MAX_SECONDS", default=600.0)
# Webhooks and other store-and-forward pushes (integrations.webhooks).
WMS_WEBHOOK_TIMEOUT_SECONDS = env.float("WMS_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WMS_WEBHOOK_BACKOFF_BASE_SECONDS = env.float("WMS_WEBHOOK_BACKOFF_BASE_SECONDS", default=10.0)
WMS_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("WMS_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600.0)
WMS_DELIVERY_MAX_ATTEMPTS = env.int("WMS_DELIVERY_MAX_ATTEMPTS", default=8)
# AMQP heartbeat of the relay's connection to the event bus (0: none).
WMS_EVENT_BUS_HEARTBEAT = env.float("WMS_EVENT_BUS_HEARTBEAT", default=30.0)
# Retention (integrations.retention, hourly by beat): published outbox events,
# delivered webhook deliveries and integration messages older than these are
# deleted, WMS_PURGE_BATCH_SIZE rows per short transaction.
WMS_OUTBOX_RETENTION_HOURS = env.int("WMS_OUTBOX_RETENTION_HOURS", default=168)
WMS_DELIVERY_RETENTION_DAYS = env.int("WMS_DELIVERY_RETENTION_DAYS", default=30)
WMS_MESSAGE_RETENTION_DAYS = env.int("WMS_MESSAGE_RETENTION_DAYS", default=90)
WMS_PURGE_BATCH_SIZE = env.int("WMS_PURGE_BATCH_SIZE", default=1000)

# --- Outbound: order intake, admission control, planning, waves --------------
WMS_ORDER_MAX_LINES = env.int("WMS_ORDER_MAX_LINES", default=1000)
# Orders accepted but not yet planned, per warehouse; beyond it intake answers 429.
WMS_PLANNING_BACKLOG_LIMIT = env.int("WMS_PLANNING_BACKLOG_LIMIT", default=100_000)
# Planning partitions per warehouse (orders are spread by store) and orders per job run.
WMS_PLANNING_GROUPS = env.int("WMS_PLANNING_GROUPS", default=8)
WMS_PLANNING_BATCH_SIZE = env.int("WMS_PLANNING_BATCH_SIZE", default=500)
# Stock that arrived within the same bucket counts as equally old for FIFO
# (then the fewest locations win); 0 compares exact arrival times.
WMS_PLANNING_FIFO_BUCKET_MINUTES = env.int("WMS_PLANNING_FIFO_BUCKET_MINUTES", default=1440)
# Planning rejects an order whose ship-by passed more than this long ago.
WMS_ORDER_SHIP_BY_GRACE_HOURS = env.int("WMS_ORDER_SHIP_BY_GRACE_HOURS", default=24)
# Wave defaults for warehouses without a wave policy of their own (admin).
WMS_WAVE_MAX_ORDERS = env.int("WMS_WAVE_MAX_ORDERS", default=50)
WMS_WAVE_MAX_LINES = env.int("WMS_WAVE_MAX_LINES", default=500)
WMS_WAVE_MAX_UNITS = env.int("WMS_WAVE_MAX_UNITS", default=10_000)
WMS_WAVE_WINDOW_MINUTES = env.int("WMS_WAVE_WINDOW_MINUTES", default=120)
WMS_WAVE_RELEASE_MODE = env.str("WMS_WAVE_RELEASE_MODE", default="AUTOMATIC")
WMS_WAVE_RELEASE_LEAD_MINUTES = env.int("WMS_WAVE_RELEASE_LEAD_MINUTES", default=240)
WMS_WAVE_MAX_OPEN_MINUTES = env.int("WMS_WAVE_MAX_OPEN_MINUTES", default=15)

# --- Picking and the automation connector -------------------------------------
# Pick tasks per batch sent to an automation system, and its retry budget
# (attempts before a batch is dead-lettered; unset: WMS_DELIVERY_MAX_ATTEMPTS).
WMS_AUTOMATION_BATCH_SIZE = env.int("WMS_AUTOMATION_BATCH_SIZE", default=100)
WMS_AUTOMATION_MAX_ATTEMPTS = env.int("WMS_AUTOMATION_MAX_ATTEMPTS", default=None)
# Dispatch right after a wave release (besides the beat every 5 s).
WMS_AUTOMATION_KICK = env.bool("WMS_AUTOMATION_KICK", default=True)
# Where a supervisor's "quarantine the location" moves the stock.
WMS_QUARANTINE_STATUS = env.str("WMS_QUARANTINE_STATUS", default="QUARANTINED")

# --- Logging --------------------------------------------------------------------
# JSON lines through structlog (wms/logs.py) for web, worker, beat and relay, each
# with timestamp, level, event, instanceId, correlationId, actor, integrationTarget;
# LOG_FORMAT=console renders them for people.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "wms.correlation.CorrelationIdLogFilter"}},
    "formatters": {
        "structured": {"()": "wms.logs.formatter", "fmt": LOG_FORMAT},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "structured",
            "filters": ["correlation"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# The worker and beat log through the handler above instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Security (README "Security") -------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A shift: a handheld left logged in does not stay so for Django's default two weeks.
SESSION_COOKIE_AGE = env.int("WMS_SESSION_HOURS", default=12) * 3600
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Served over HTTPS (production): secure cookies, HSTS and a redirect of plain HTTP.
# Off by default so the demo, the tests and the benches run over http on 127.0.0.1;
# `manage.py check --deploy` names each of these settings while it is off.
WMS_HTTPS = env.bool("WMS_HTTPS", default=False)
if WMS_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("WMS_SSL_REDIRECT", default=True)
    # Probes and the metrics scraper talk plain HTTP to the pod.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("WMS_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("WMS_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("WMS_HSTS_PRELOAD", default=True)
# Only behind a proxy that sets X-Forwarded-Proto itself (and strips a client's):
# otherwise a client could claim https.
if env.bool("WMS_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts only from this origin or carrying
# the request's nonce (templates: nonce="{{ request.csp_nonce }}"); no inline
# event handlers (static/wms/js/pages.js binds data-autosubmit and data-confirm).
# Inline styles stay allowed: the admin's widgets and our pages use style
# attributes, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "font-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
    },
}

# Login throttling (django-axes), admin and handheld alike: after
# WMS_LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address,
# that pair is locked out for WMS_LOGIN_COOLOFF_MINUTES. By the pair, not the
# address alone: a floor's handhelds often share one NAT address.
AXES_ENABLED = env.bool("WMS_LOGIN_THROTTLING", default=True)
AXES_FAILURE_LIMIT = env.int("WMS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("WMS_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its banner at every start would break commands' one-line output
AXES_LOCKOUT_TEMPLATE = "handheld/locked_out.html"

# Single sign-on over OpenID Connect (wms/sso.py; README "Single sign-on"): on when
# WMS_OIDC_CLIENT_ID is set. Authorization code flow with PKCE, RS256-signed ID
# tokens checked against the provider's JWKS, the nonce and the state.
OIDC_RP_CLIENT_ID = env.str("WMS_OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("WMS_OIDC_CLIENT_SECRET", default="")
WMS_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("WMS_OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("WMS_OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("WMS_OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("WMS_OIDC_JWKS_ENDPOINT", default="")
WMS_OIDC_END_SESSION_ENDPOINT = env.str("WMS_OIDC_END_SESSION_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("WMS_OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("WMS_OIDC_SCOPES", default="openid email profile")
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the hint of the provider logout
OIDC_TIMEOUT = 10
OIDC_CALLBACK_CLASS = "wms.sso.CallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "wms.sso.provider_logout_url"
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "/handheld/login/"
WMS_OIDC_USERNAME_CLAIM = env.str("WMS_OIDC_USERNAME_CLAIM", default="preferred_username")
WMS_OIDC_GROUPS_CLAIM = env.str("WMS_OIDC_GROUPS_CLAIM", default="groups")
WMS_OIDC_WAREHOUSES_CLAIM = env.str("WMS_OIDC_WAREHOUSES_CLAIM", default="warehouses")
WMS_OIDC_ROLE_PREFIX = env.str("WMS_OIDC_ROLE_PREFIX", default="")
# Off: passwords kept in this instance no longer log anyone in (SSO only).
WMS_LOCAL_PASSWORDS = env.bool("WMS_LOCAL_PASSWORDS", default=True)
if WMS_OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.insert(1, "wms.sso.WmsOidcBackend")
    # Logging out redirects to the provider's end-session endpoint after a form post.
    _provider = "/".join(OIDC_OP_AUTHORIZATION_ENDPOINT.split("/")[:3])
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(_provider)
if not WMS_LOCAL_PASSWORDS:
    AUTHENTICATION_BACKENDS.remove("django.contrib.auth.backends.ModelBackend")
