#!/usr/bin/env bash
# Runs Tempest's identity API tests (tempest.api.identity, tempest 47.0.0
# from PyPI) against a running Cairn identity service and writes one line
# per test, `<status> <test id>`, to $OUT/results.txt (status: success,
# fail, skip). Judging the results against known-failures.txt is xtask's
# job (`cargo xtask test`); this script only runs the suite.
#
# usage: VENV=<venv with tempest> OUT=<scratch dir> run.sh <identity uri> <admin password>
#   e.g. run.sh http://127.0.0.1:8090/identity "$(password of cairn-admin)"
# REGEX overrides the tests run (default '^tempest\.api\.identity');
# CONCURRENCY the workers (default 2).
set -euo pipefail
uri=${1:?identity uri}
password=${2:?admin password}
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:?VENV: a venv with tempest installed}
out=${OUT:?OUT: a scratch directory}
regex=${REGEX:-'^tempest\.api\.identity'}
concurrency=${CONCURRENCY:-2}

rm -rf "$out"
mkdir -p "$out"
cd "$out"
sed -e "s|@IDENTITY_URI@|$uri|" -e "s|@ADMIN_PASSWORD@|$password|" \
    "$here/tempest.conf.in" >tempest.conf
# Tempest's "run from anywhere" (no `tempest init`, which would register a
# workspace in ~/.tempest): it writes .stestr.conf and .stestr/ here. A
# failing test makes it exit non-zero: that is for the known-failures list
# to judge, not for this script.
"$venv/bin/tempest" run --config-file "$out/tempest.conf" --regex "$regex" \
    --concurrency "$concurrency" || true
# `stestr last` and `subunit2csv` exit non-zero too when the run had
# failures; the results say which.
{ "$venv/bin/stestr" last --subunit || true; } | { "$venv/bin/subunit2csv" || true; } | "$venv/bin/python" -c '
import csv, sys
for row in csv.DictReader(sys.stdin):
    print(row["status"], row["test"])
' >"$out/results.txt"
echo "results: $out/results.txt ($(wc -l <"$out/results.txt") tests)"
