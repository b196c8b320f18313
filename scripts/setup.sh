# Shared set-up steps for scripts/run.sh and scripts/test.sh (sourced, not run).
# Each step checks first and does nothing when it is already done.

# Debian packages, by purpose. The Dockerfile installs exactly RUNTIME_PACKAGES
# (tests/test_dockerfile.py checks it): a container always has a DATABASE_URL.
RUNTIME_PACKAGES=(postgresql-client-15 sqitch libdbd-pg-perl)  # psql + sqitch: migrations at start
SERVER_PACKAGES=(postgresql-15)  # the embedded cluster (no DATABASE_URL) and the tests' database
TEST_PACKAGES=(postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl  # pgTAP, pg_prove
               chromium)  # tests/e2e checks the DevKit web UI in a headless Chromium
SYSTEM_PACKAGES=("${RUNTIME_PACKAGES[@]}" "${SERVER_PACKAGES[@]}" "${TEST_PACKAGES[@]}")

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages given as arguments (default: every group) that are missing.
install_system_packages() {
  local missing=() wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${SYSTEM_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-upgrade "${missing[@]}"
  fi
  export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
}

install_python_package() {
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-upgrade python3-venv
      python3 -m venv .venv
    fi
  fi
  echo "==> installing pg-workflow into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
}

# The tests' PostgreSQL: 127.0.0.1:5432, user postgres, trusted.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  echo "==> PostgreSQL is not answering on 127.0.0.1:5432: starting the system cluster 15/main"
  if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 \+main'; then
    as_root pg_createcluster 15 main -p 5432
  fi
  local hba=/etc/postgresql/15/main/pg_hba.conf
  if ! as_root grep -q 'pg-workflow tests' "$hba"; then
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust # pg-workflow tests' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect 15 main start
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 1
  done
  echo "PostgreSQL did not start" >&2
  return 1
}

# The client World and the DevKit end-to-end suite need Node.js >= 20 and npm.
require_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "Node.js 20 (or newer) and npm are needed for the client World and the end-to-end tests" >&2
    return 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "Node.js $major found; the DevKit needs Node.js 20 or newer" >&2
    return 1
  fi
}
