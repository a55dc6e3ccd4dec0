#!/usr/bin/env bash
# The test suite on both engines (`make test`, and so `.ci/run`): private PostgreSQL and Redis servers are
# started here (scripts/servers.sh installs what is missing) and stopped on exit, whatever happens. The whole
# suite runs on SQLite and, at the same time, every test that uses a database runs on PostgreSQL
# (tests/conftest.py); the Redis tests run in both, each under key prefixes of its own. The two runs mostly
# wait (on the emulator, on timers, on the servers), so side by side they take little longer than the longer
# one. Fails when any test fails. Extra arguments go to both pytest runs. The real-browser tests' Chromium is
# installed first when missing (scripts/browser.sh), before the servers, so that the two never wait on apt's lock.
# Last, the deployment test (scripts/deploy_test.sh): the image built and both compose stacks run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
scripts/browser.sh
dir=$(mktemp -d "${TMPDIR:-/tmp}/qyzmet-servers.XXXXXX")
sqlite_pid=""
cleanup() {
    [ -n "$sqlite_pid" ] && kill "$sqlite_pid" 2>/dev/null || true
    scripts/servers.sh stop "$dir"
    rm -rf "$dir"
}
trap cleanup EXIT
eval "$(scripts/servers.sh start "$dir")"
export QYZMET_TEST_REDIS
pg=$QYZMET_TEST_POSTGRES
unset QYZMET_TEST_POSTGRES

start=$(date +%s)
"$PY" -m pytest -q -p no:cacheprovider "$@" >"$dir/sqlite.log" 2>&1 &
sqlite_pid=$!
echo "== PostgreSQL (SQLite runs beside it) =="
pg_status=0
QYZMET_TEST_POSTGRES=$pg "$PY" -m pytest -q "$@" || pg_status=$?
sqlite_status=0
wait "$sqlite_pid" || sqlite_status=$?
sqlite_pid=""
echo "== SQLite =="
cat "$dir/sqlite.log"
echo "== both engines in $(( $(date +%s) - start )) s: SQLite exit $sqlite_status, PostgreSQL exit $pg_status =="
# Then the deployment files for real (Dockerfile, both compose files; scripts/deploy_test.sh, 3 to 5 minutes
# once its cache is warm): run even after a failed suite, so one run tells both. QYZMET_DEPLOY_TEST=0 skips it,
# and so does a run given pytest arguments (a part of the suite).
deploy_status=0
if [ $# = 0 ]; then
    PY=$PY scripts/deploy_test.sh || deploy_status=$?
else
    echo "== deploy test SKIPPED: pytest arguments given (scripts/deploy_test.sh runs it alone)"
fi
[ "$sqlite_status" = 0 ] && [ "$pg_status" = 0 ] && [ "$deploy_status" = 0 ]
