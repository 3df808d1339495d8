#!/usr/bin/env bash
# Fails when the repository tracks something that looks like a log, a database
# or a dump: those are left behind by runs, not written by people.
set -euo pipefail
cd "$(dirname "$0")/.."
stray=$(git ls-files | grep -E '(^|/)(nohup\.out|[^/]*\.log|log[0-9]*\.txt|[^/]*\.db(-wal|-shm|-journal)?|[^/]*\.sqlite3?|dump\.rdb|appendonly\.aof|core(\.[0-9]+)?)$' || true)
if [ -n "$stray" ]; then
    echo "stray files tracked by git (remove them; .gitignore keeps them out):" >&2
    echo "$stray" >&2
    exit 1
fi
