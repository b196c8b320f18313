#!/usr/bin/env bash
# Installs what pg-workflow needs and starts it. Without a database URL
# (argument or DATABASE_URL) it runs its own PostgreSQL cluster.
# Arguments go to pg-workflow: scripts/run.sh [DATABASE_URL] [--host H] [--port P]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_system_packages "${RUNTIME_PACKAGES[@]}" "${SERVER_PACKAGES[@]}"  # no test tools
install_python_package
exec .venv/bin/pg-workflow "$@"
