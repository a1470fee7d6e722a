"""The monitoring stack, one component after the other.

    pyinfra inventories/prod.py deploy.py          # a fleet over SSH
    pyinfra @local deploy.py                       # this machine
    pyinfra --dry inventories/prod.py deploy.py    # preview every change

Every host's settings are validated before anything is planned; each component module
then installs what that host runs (see group_data/all.py for every setting).
"""

import importlib

from operations import context
from operations.services import wait_ready_helper
from operations.settings import COMPONENTS

context.validate_inventory()

components = [c for c in COMPONENTS if context.runs(c)]
if components:
    wait_ready_helper()
for component in components:
    importlib.import_module(f"operations.{component}").install()
