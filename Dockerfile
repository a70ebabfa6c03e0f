# The WMS image: one image for web (gunicorn), Celery worker and beat, the outbox
# relay and the migrations Job (deploy/helm/wms). Multi-stage: the build stage
# compiles the translations and collects the static files; the runtime stage has
# no compiler, no gettext, and runs as an unprivileged user on a read-only root.
#   docker build --build-arg WMS_RELEASE_VERSION=0.1.0 \
#     --build-arg WMS_RELEASE_COMMIT=$(git rev-parse --short HEAD) -t wms:0.1.0 .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first: a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir wms inbound inventory outbound tasking counting integrations \
 && pip install . && pip uninstall -y wms
COPY . .
# Settings need a PostgreSQL URL to load; compilemessages and collectstatic never connect.
RUN pip install --no-deps . \
 && export DATABASE_URL=postgres://build@localhost/build WMS_VAR_DIR=/app/var \
 && python manage.py compilemessages --ignore=.venv -v0 \
 && python manage.py collectstatic --noinput -v0 \
 && python -m compileall -q wms inbound inventory outbound tasking counting integrations

FROM python:3.11-slim-bookworm AS runtime
ARG WMS_RELEASE_VERSION=0.1.0
ARG WMS_RELEASE_COMMIT=unknown
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WMS_VAR_DIR=/app/var \
    WMS_RELEASE_VERSION=$WMS_RELEASE_VERSION \
    WMS_RELEASE_COMMIT=$WMS_RELEASE_COMMIT
RUN groupadd --system --gid 10001 wms \
 && useradd --system --uid 10001 --gid wms --home-dir /app --shell /usr/sbin/nologin wms
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
# Only what the processes write is writable: /tmp (an emptyDir in the chart).
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["gunicorn", "wms.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
