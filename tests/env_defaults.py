"""Test environment: PostgreSQL and the real broker on this machine, unless overridden.

Loaded by pytest before Django's settings, so these defaults reach them.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wms")
os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
os.environ.setdefault("WMS_EVENT_BUS_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Unit tests run Celery tasks in-process; integration tests start a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("WMS_INSTANCE_ID", "wms-test")
os.environ.setdefault("WMS_VAR_DIR", "/tmp/wms-test-var")
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
