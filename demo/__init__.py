"""`python3 -m demo up|down|status`: the whole stack on three throw-away local hosts.

The hosts are the test fleet's (tests/harness/fleet.py) under a profile of their own, so
a test session's fleet and the demo run side by side.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the fleet code lives with the tests (one implementation for both); the deploy's
# operations package is used for the artifact code
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.append(str(path))
