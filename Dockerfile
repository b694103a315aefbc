# The Tidings image: `tidings serve` (HTTP + WebSocket on 6001, the default command) or `tidings worker`.
#
#   docker build -t tidings .                  # or: podman build --format docker -t tidings .
#   docker run -p 6001:6001 -e TIDINGS_DEFAULT_APP_ID=... -e TIDINGS_DEFAULT_APP_KEY=... \
#              -e TIDINGS_DEFAULT_APP_SECRET=... -v tidings-data:/var/lib/tidings tidings
#
# podman builds OCI images by default, and OCI images have no HEALTHCHECK: build with `--format docker`.
# No secret is baked in: app credentials, database and Redis URLs come from the environment (TIDINGS_*).
# docs/operations.md ("Container") has the details; scripts/container-test builds and runs this file.
#
# BASE: a Debian-like image with Python 3.11+ (`python3` and its venv module); the default is Docker Hub's.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
# Offline builds: put every wheel in build/wheels/ (`pip wheel . hatchling -w build/wheels`) and pass
# --build-arg PIP_OPTIONS=--no-index. Without that directory pip takes everything from PyPI.
ARG PIP_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/tidings
# .dockerignore lets in only pyproject.toml, README.md, src/ and build/wheels/.
COPY . /src
RUN /opt/tidings/bin/pip install --quiet --find-links /src/build/wheels ${PIP_OPTIONS} /src \
 && /opt/tidings/bin/tidings --version

FROM ${BASE}
RUN groupadd --system --gid 10001 tidings \
 && useradd --system --uid 10001 --gid tidings --home-dir /var/lib/tidings --no-create-home \
      --shell /usr/sbin/nologin tidings \
 && mkdir -p /var/lib/tidings && chown tidings:tidings /var/lib/tidings && chmod 700 /var/lib/tidings
COPY --from=build /opt/tidings /opt/tidings
# TIDINGS_DATA_DIR: the SQLite file (single node without TIDINGS_DATABASE_URL) and the console token live here;
# mount a volume on it to keep them.
ENV PATH=/opt/tidings/bin:$PATH PYTHONUNBUFFERED=1 TIDINGS_DATA_DIR=/var/lib/tidings
USER tidings:tidings
WORKDIR /var/lib/tidings
EXPOSE 6001
# Liveness: GET /health on the port of TIDINGS_PORT (6001), over HTTPS when TIDINGS_TLS_CERT is set. With no
# HTTP server to ask, `tidings worker` containers should run with the check off (--no-healthcheck).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, ssl, urllib.request as r; tls = bool(os.environ.get('TIDINGS_TLS_CERT')); r.urlopen(('https' if tls else 'http') + '://127.0.0.1:' + (os.environ.get('TIDINGS_PORT') or '6001') + '/health', timeout=4, context=ssl._create_unverified_context() if tls else None)"]
STOPSIGNAL SIGTERM
CMD ["tidings", "serve"]
