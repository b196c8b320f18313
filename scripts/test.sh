#!/usr/bin/env bash
# Runs every test: installs what it needs, starts PostgreSQL on 127.0.0.1:5432
# if it is not running, then the pgTAP suite (pg_prove) and pytest
# (which includes the DevKit end-to-end suite). Extra arguments go to pytest.
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
