#!/usr/bin/env bash
# Deploys the schema into a throwaway database one change at a time, runs
# sql/tests/*.sql with pg_prove, then proves the reverts: reverting each change
# (newest first) must give back exactly the schema that was there before it was
# deployed, and deploying everything again must give the same schema as the
# first deploy. Schemas are compared as normalised `pg_dump --schema-only`;
# a difference fails the script and prints the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"  # no NOTICEs from DROP ... CASCADE
# No statement of a test may hang CI (e.g. a lock wait that crosses dblink): fail it after 5 minutes.
export PGOPTIONS="$PGOPTIONS -c statement_timeout=300s"
export SQITCH_FULLNAME="${SQITCH_FULLNAME:-pg-workflow tests}" SQITCH_EMAIL="${SQITCH_EMAIL:-tests@localhost}"
db="pgw_tap_$(date +%s)_$$"
snapshots="$(mktemp -d)"
trap 'psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; rm -rf "$snapshots"' EXIT
psql -q -d postgres -c "CREATE DATABASE \"$db\""
psql -q -d "$db" -c "CREATE EXTENSION pgtap"

# The schema without sqitch's own registry, comments or pg_dump's per-run
# \restrict keys: what must be identical after a revert and redeploy.
# Privileges are a set: each run of GRANT/REVOKE lines is sorted, so an
# object's grantees listed in another order (ACL entry order) are no difference.
schema() {
  pg_dump --schema-only --no-owner --exclude-schema=sqitch "$db" \
    | grep -v -e '^--' -e '^\\restrict ' -e '^\\unrestrict ' -e '^$' \
    | LC_ALL=C awk '/^(GRANT|REVOKE) / { if (!run) { fflush(); run = 1 } print | "sort"; next }
                   run { close("sort"); run = 0 } { print } END { if (run) close("sort") }' \
    >"$snapshots/$1"
}
# Stops at the first difference: later snapshots would only repeat it.
same_schema() { # expected actual what
  if ! diff -u --label "$1" --label "$2" "$snapshots/$1" "$snapshots/$2"; then
    echo "FAIL: $3" >&2
    exit 1
  fi
}

mapfile -t changes < <(grep -v -e '^%' -e '^#' -e '^@' -e '^[[:space:]]*$' sqitch.plan | awk '{print $1}')
schema "before-${changes[0]}"
previous=""
for change in "${changes[@]}"; do
  [[ -n "$previous" ]] && cp "$snapshots/after-$previous" "$snapshots/before-$change"
  PGDATABASE="$db" sqitch deploy --verify --to "$change" db:pg: >/dev/null
  schema "after-$change"
  previous="$change"
done

pg_prove -d "$db" --failures sql/tests/*.sql
schema "after-tests"
same_schema "after-$previous" "after-tests" "the tests changed the schema"

echo "==> sqitch revert, one change at a time, then redeploy"
for ((i = ${#changes[@]} - 1; i >= 0; i--)); do
  change="${changes[i]}"
  if ((i > 0)); then
    PGDATABASE="$db" sqitch revert -y --to "${changes[i - 1]}" db:pg: >/dev/null
  else
    PGDATABASE="$db" sqitch revert -y db:pg: >/dev/null
  fi
  schema "reverted-$change"
  same_schema "before-$change" "reverted-$change" "reverting $change did not restore the schema it was deployed on"
done
PGDATABASE="$db" sqitch deploy --verify db:pg: >/dev/null
schema "redeployed"
same_schema "after-$previous" "redeployed" "revert + redeploy did not give the same schema"
echo "revert and redeploy: ok (${#changes[@]} changes, each revert restores the schema before it)"
