# Qyzmet in a container: `qyzmet run` as an unprivileged user, the database on a volume.
#
#   docker build -t qyzmet .
#   docker run -d --name qyzmet -p 8080:8080 -v qyzmet-data:/data \
#     -e QYZMET_TELEGRAM_TOKEN=... -e QYZMET_SMS_GATEWAY_URL=https://... -e QYZMET_SMS_SECRET=... qyzmet
#   docker exec qyzmet qyzmet seed /data/citizens.json      # other commands the same way
#   docker exec qyzmet qyzmet backup /data/backup-$(date +%F).sqlite3
#   docker run --rm qyzmet qyzmet --help                     # a one-off command: the whole argv, "qyzmet" first
#
# No ENTRYPOINT: a command given to `docker run`, `docker exec` or compose's `command:` is the whole argv, so
# `qyzmet migrate` reads the same everywhere (an ENTRYPOINT of "qyzmet" turned compose's `qyzmet migrate` into
# `qyzmet qyzmet migrate`, exit 2).
#
# Build arguments:
#   BASE    the base image, any with python3 ≥ 3.11 and its venv module (a Debian bookworm made with
#           debootstrap where no registry is reachable: scripts/deploy_test.sh).
#   WHEELS  "yes": install only from the wheels put in deploy/wheels/ (`pip wheel -w deploy/wheels . setuptools`
#           with the image's Python on a host that reaches the index), never from the network.
#
# The HTTP server listens on all interfaces of the container (QYZMET_HTTP_HOST=0.0.0.0), so `run` requires
# QYZMET_SMS_SECRET (inbound SMS must be signed off loopback). Configuration: README.md, "Configuration".
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG WHEELS=no

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A virtual environment first on PATH: Debian's own python3 refuses `pip install` into the system (PEP 668),
# and the same layout on python:3.11-slim keeps one recipe for both bases.
RUN python3 -m venv /opt/qyzmet
ENV VIRTUAL_ENV=/opt/qyzmet \
    PATH=/opt/qyzmet/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY store ./store
COPY locales ./locales
# Holds only its .gitignore unless wheels were put there for WHEELS=yes.
COPY deploy/wheels /wheels
RUN if [ "$WHEELS" = yes ]; then pip install --no-index --find-links /wheels .; else pip install .; fi \
    && rm -rf /src /wheels

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home qyzmet \
    && mkdir -p /data && chown qyzmet:qyzmet /data && chmod 700 /data

USER qyzmet
WORKDIR /data
ENV QYZMET_DATABASE=/data/qyzmet.sqlite3 \
    QYZMET_HTTP_HOST=0.0.0.0 \
    QYZMET_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

# /health is readiness (README, Operating): 200 while the database answers, updates are fetched and the
# outbox workers run; 503 otherwise. The HTTP server is up once Telegram has answered getMe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('QYZMET_HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]

# `docker stop` sends SIGTERM: the bot finishes what is in flight and exits.
STOPSIGNAL SIGTERM
CMD ["qyzmet", "run"]
