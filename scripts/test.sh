#!/usr/bin/env bash
# Runs every test: installs what it needs, starts PostgreSQL on 127.0.0.1:5432
# if it is not running, then the pgTAP suite (pg_prove) and pytest
# (which includes the DevKit end-to-end suite), after the client World's own
# unit tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

install_system_packages
install_python_package
ensure_postgres

echo "==> pgTAP (sql/tests)"
bash scripts/pgtap.sh

echo "==> ruff"
.venv/bin/ruff check service tests bench

echo "==> hadolint (Dockerfile)"
.venv/bin/hadolint Dockerfile

echo "==> client World unit tests (clients/world, node --test)"
require_node
(cd clients/world && npm install --no-save --no-audit --no-fund --loglevel=error && npm test)

echo "==> pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
