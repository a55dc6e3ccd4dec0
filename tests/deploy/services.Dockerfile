# Stand-ins for the postgres:15, redis:7 and nginx:1.27 images that compose.yaml names, for a machine that
# reaches no image registry (scripts/deploy_test.sh): Debian bookworm's own PostgreSQL 15, Redis 7 and nginx,
# on the same debootstrap base as the project's image. Only the deployment test uses it; deployers pull the
# official images.
ARG BASE
FROM ${BASE}
# No "main" cluster at install: the entrypoint makes the cluster the way the official image does, from
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB.
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       postgresql-15 postgresql-client-15 redis-server nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default
COPY services-entrypoint.sh /usr/local/bin/services-entrypoint
ENTRYPOINT ["/usr/local/bin/services-entrypoint"]
CMD ["postgres"]
