#!/usr/bin/env bash
# The suite on the lowest pyinfra that requirements.txt admits (the main run has the
# highest): the unit tests, and one end-to-end module that deploys, previews and re-runs
# on fleet hosts. In a virtualenv of its own (kept in /var/tmp between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
lowest=$(sed -n 's/^pyinfra>=\([0-9.]*\),.*/\1/p' requirements.txt)
[ -n "$lowest" ] || { echo "requirements.txt names no lowest pyinfra (pyinfra>=X.Y,...)" >&2; exit 2; }
venv=/var/tmp/monstack-venv-pyinfra-$lowest
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyinfra" 2>/dev/null; then
  python3 -m venv "$venv"
fi
# the dev requirements, with pyinfra held at its lowest
"$venv/bin/python" -m pip install -q -r requirements-dev.txt "pyinfra==$lowest"
"$venv/bin/python" -c "import importlib.metadata as m; v = m.version('pyinfra'); print('pyinfra', v); assert v.startswith('$lowest')"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit "${@:-tests/e2e/test_core_stack_archive.py}"
