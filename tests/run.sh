#!/usr/bin/env bash
# The README's test command: installs the project with its test extras into .venv (and Debian's
# chromium for the browser tests, when missing and we may install it), then runs pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k ingest -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest "$@"
