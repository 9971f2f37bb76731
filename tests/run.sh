#!/usr/bin/env bash
# The README's test command: installs the project with its test extras into .venv, then runs pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k ingest -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"
