#!/usr/bin/env bash
# The deployment test (`make test` runs it after the suite; alone: `scripts/deploy_test.sh`): the shipped
# Dockerfile, compose.embedded.yaml and compose.yaml, run for real. Why: they used to be only read, and a
# compose `command` that could never start went out unnoticed.
#
# A private Docker engine (vfs, no iptables, no default bridge, its own data root under the cache dir, stopped
# on exit whatever happens) builds the project's image on a Debian bookworm base made with debootstrap (no image
# registry is reachable here; pip in the build installs from wheels built on this host), and Debian's
# PostgreSQL, Redis and nginx stand in for the postgres:15, redis:7 and nginx:1.27 images
# (tests/deploy/services.Dockerfile). Each stack starts from the shipped file plus a test override
# (tests/deploy/compose*.test.yaml: the Bot API emulator, a fake SMS gateway, the settings), with nothing
# published to the host; tests/deploy/smoke.py then plays the scenario from a container on the stack's network.
# Then `docker-compose down -v`.
#
# The base image, the image layers and the wheels stay in QYZMET_CI_CACHE (/var/cache/qyzmet-ci) for the next
# run. Skips, saying so, where no Docker engine can run (not root, no apt to install one, dockerd does not start)
# or when QYZMET_DEPLOY_TEST=0. Fails when a stack does not start or the scenario fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
PY=${PY:-.venv/bin/python}
cache=${QYZMET_CI_CACHE:-/var/cache/qyzmet-ci}
base_image=qyzmet-ci-base:bookworm
services_image=qyzmet-ci-services:bookworm
started=$(date +%s)

say() { echo "== deploy test: $* ($(( $(date +%s) - started )) s)"; }
skip() { echo "== deploy test SKIPPED: $*"; exit 0; }

[ "${QYZMET_DEPLOY_TEST:-1}" = 0 ] && skip "QYZMET_DEPLOY_TEST=0"
[ "$(id -u)" = 0 ] || skip "a private Docker engine needs root (this is uid $(id -u))"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"
# One run at a time per machine: the engine's data root is shared, and compose.yaml fixes its subnet.
exec 9>"$cache/lock"
flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/qyzmet-deploy.XXXXXX")
chmod 700 "$work"   # the stacks' .env files hold this run's (throwaway) secrets
export DOCKER_HOST="unix://$work/docker.sock"
export QYZMET_CI_REPO=$repo
dockerd_pid=""
projects=()

compose() {  # compose PROJECT ARGS…: a stack resolved by `stack`
    docker-compose -p "qyzmet-ci-$1" -f "$work/$1/stack.yaml" "${@:2}"
}

cleanup() {
    status=$?
    set +e
    for project in "${projects[@]}"; do
        compose "$project" down -v --remove-orphans >/dev/null 2>&1
    done
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill "$dockerd_pid"
        for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$dockerd_pid" 2>/dev/null
    fi
    find deploy/wheels -name '*.whl' -delete
    # The engine can leave its network namespace mounted in the exec root (seen after a killed run).
    awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf "$work"
    [ $status = 0 ] || echo "== deploy test FAILED (exit $status) after $(( $(date +%s) - started )) s"
}
trap cleanup EXIT

dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$cache/docker" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
done
if ! docker info >/dev/null 2>&1; then
    tail -5 "$work/dockerd.log" >&2
    skip "the Docker engine did not start on this machine (its log's last lines above)"
fi
say "Docker engine $(docker version --format '{{.Server.Version}}') up"
# A run that was killed can leave its containers in the data root, and they would restart with the engine.
# This engine is this script's own: everything in it is the test's.
containers=$(docker ps -aq)
[ -z "$containers" ] || docker rm -f $containers >/dev/null
docker network prune -f >/dev/null
docker volume prune -f >/dev/null

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
    if [ ! -f "$cache/rootfs/.complete" ]; then
        say "making the Debian base with debootstrap (once per machine)"
        rm -rf "$cache/rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv bookworm "$cache/rootfs" \
            http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
        touch "$cache/rootfs/.complete"
    fi
    tar -C "$cache/rootfs" --exclude=./.complete -c . | docker import - "$base_image" >/dev/null
fi
docker run --rm --network none "$base_image" true ||
    skip "the Docker engine started but cannot run a container on this machine"

# Wheels of the dependencies, built here, where pip reaches the index (it does not from inside a build).
# Debian's python3 is 3.11.2: redis needs async-timeout below 3.11.3, which this host's newer Python skips.
say "wheels and the project's image (base $base_image)"
mkdir -p "$cache/wheels"
"$PY" - >"$work/requirements.txt" <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))
print("\n".join(project["project"]["dependencies"] + project["build-system"]["requires"]))
print("async-timeout>=4.0.3")
EOF
"$PY" -m pip wheel -q --disable-pip-version-check --find-links "$cache/wheels" -w "$cache/wheels" \
    -r "$work/requirements.txt" >"$work/wheels.log" 2>&1 || { grep -v "is ignored" "$work/wheels.log" | tail -20; exit 1; }
cp -l "$cache/wheels"/*.whl deploy/wheels/ 2>/dev/null || cp "$cache/wheels"/*.whl deploy/wheels/
docker build -q --network host --build-arg BASE="$base_image" --build-arg WHEELS=yes -t qyzmet:latest . \
    >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
find deploy/wheels -name '*.whl' -delete
docker build -q --network host --build-arg BASE="$base_image" -t "$services_image" \
    -f tests/deploy/services.Dockerfile tests/deploy >"$work/services.log" 2>&1 || { tail -30 "$work/services.log"; exit 1; }
docker image prune -f >/dev/null   # the previous builds' images: with vfs each is a full copy on disk
say "images built"

secret() { "$PY" -c 'import secrets; print(secrets.token_hex(24))'; }

stack() {  # stack NAME COMPOSE_FILE OVERRIDE PUBLIC_URL [WEBHOOK_URL]: the shipped file, resolved with the override
    local dir=$work/$1
    mkdir -p "$dir"
    cp "$2" "$dir/"
    cp -r deploy "$dir/"
    {
        echo "QYZMET_TELEGRAM_TOKEN=123456:deploy-test"
        echo "QYZMET_TELEGRAM_API_URL=http://telegram:8081/bot"
        echo "QYZMET_SMS_GATEWAY_URL=http://sms:8090/send"
        echo "QYZMET_SMS_SECRET=$(secret)"
        echo "QYZMET_SECRET_KEY=$(secret)"
        echo "QYZMET_FEED_TOKEN=$(secret)"
        echo "QYZMET_PUBLIC_URL=$4"
        echo "QYZMET_TELEGRAM_WEBHOOK_URL=${5:-}"
        echo "QYZMET_TELEGRAM_WEBHOOK_SECRET=$(secret)"
        echo "POSTGRES_PASSWORD=$(secret)"
    } >"$dir/.env"
    # Nothing is published to the host: the scenario runs on the stack's network, and a port taken on this
    # machine (a developer's bot on 8080) must not fail the test. So the resolved file loses its `ports`.
    docker-compose -p "qyzmet-ci-$1" -f "$dir/$(basename "$2")" -f "$3" config >"$dir/resolved.yaml"
    /usr/bin/python3 - "$dir/resolved.yaml" "$dir/stack.yaml" <<'EOF'
import sys
import yaml  # docker-compose's own dependency (python3-yaml)
stack = yaml.safe_load(open(sys.argv[1]))
for service in stack["services"].values():
    service.pop("ports", None)
yaml.safe_dump(stack, open(sys.argv[2], "w"), sort_keys=False)
EOF
    projects+=("$1")
}

logs() {  # the last lines of every service, when something failed
    compose "$1" logs --no-color --tail 40 >&2 || true
}

run_stack() {  # run_stack NAME [SEED]: up, (seed,) the scenario, down
    local name=$1
    say "$name: up"
    compose "$name" up -d --no-build || { compose "$name" ps >&2; logs "$name"; return 1; }
    if [ -n "${2:-}" ]; then   # the compose header's own example: a one-off command in the migrate service
        compose "$name" run --rm -T migrate qyzmet seed /seed/citizens.json >/dev/null ||
            { logs "$name"; return 1; }
    fi
    say "$name: scenario"
    compose "$name" run --rm -T smoke || { compose "$name" ps >&2; logs "$name"; return 1; }
    compose "$name" down -v --remove-orphans >/dev/null 2>&1
    say "$name: down"
}

stack embedded compose.embedded.yaml tests/deploy/compose.embedded.test.yaml http://bot:8080
run_stack embedded
stack scale compose.yaml tests/deploy/compose.test.yaml http://proxy:8080 http://proxy:8080/telegram
run_stack scale seed
say "passed"
