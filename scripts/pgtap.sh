#!/usr/bin/env bash
# Deploys the schema into a throwaway database, runs sql/tests/*.sql with
# pg_prove, then checks that every change reverts and redeploys cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export SQITCH_FULLNAME="${SQITCH_FULLNAME:-pg-workflow tests}" SQITCH_EMAIL="${SQITCH_EMAIL:-tests@localhost}"
db="pgw_tap_$(date +%s)_$$"
trap 'psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null' EXIT
psql -q -d postgres -c "CREATE DATABASE \"$db\""
psql -q -d "$db" -c "CREATE EXTENSION pgtap"
PGDATABASE="$db" sqitch deploy --verify db:pg: >/dev/null
pg_prove -d "$db" --failures sql/tests/*.sql
echo "==> sqitch revert / redeploy"
PGDATABASE="$db" sqitch revert -y db:pg: >/dev/null 2>&1
PGDATABASE="$db" sqitch deploy --verify db:pg: >/dev/null
echo "revert and redeploy: ok"
