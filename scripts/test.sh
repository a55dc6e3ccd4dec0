#!/usr/bin/env bash
# The test suite on both engines (`make test`, and so `.ci/run`): private PostgreSQL and Redis servers are
# started here (scripts/servers.sh installs what is missing) and stopped on exit, whatever happens. The whole
# suite runs on SQLite, then every test that uses a database runs again on PostgreSQL (tests/conftest.py);
# the Redis tests run in both. Fails when any test fails. Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
dir=$(mktemp -d "${TMPDIR:-/tmp}/qyzmet-servers.XXXXXX")
trap 'scripts/servers.sh stop "$dir"; rm -rf "$dir"' EXIT
eval "$(scripts/servers.sh start "$dir")"
export QYZMET_TEST_REDIS
pg=$QYZMET_TEST_POSTGRES
unset QYZMET_TEST_POSTGRES

echo "== SQLite =="
"$PY" -m pytest -q "$@"
echo "== PostgreSQL =="
QYZMET_TEST_POSTGRES=$pg "$PY" -m pytest -q "$@"
