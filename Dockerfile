# Qyzmet in a container: `qyzmet run` as an unprivileged user, the database on a volume.
#
#   docker build -t qyzmet .
#   docker run -d --name qyzmet -p 8080:8080 -v qyzmet-data:/data \
#     -e QYZMET_TELEGRAM_TOKEN=... -e QYZMET_SMS_GATEWAY_URL=https://... -e QYZMET_SMS_SECRET=... qyzmet
#   docker exec qyzmet qyzmet seed /data/citizens.json      # other commands the same way
#   docker exec qyzmet qyzmet backup /data/backup-$(date +%F).sqlite3
#
# The HTTP server listens on all interfaces of the container (QYZMET_HTTP_HOST=0.0.0.0), so `run` requires
# QYZMET_SMS_SECRET (inbound SMS must be signed off loopback). Configuration: README.md, "Configuration".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY store ./store
COPY locales ./locales
RUN pip install . && rm -rf /src

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
ENTRYPOINT ["qyzmet"]
CMD ["run"]
