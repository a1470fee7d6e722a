"""The monitoring stack, one component after the other.

    pyinfra inventories/prod.py deploy.py          # a fleet over SSH
    pyinfra @local deploy.py                       # this machine
    pyinfra --dry inventories/prod.py deploy.py    # preview every change

Every host's settings are validated before anything is planned; each component module
then installs what that host runs (see group_data/all.py for every setting). Grafana is
provisioned last, from the controller over its HTTP API.
"""

import importlib

from operations import context
from operations.install import plan_service_users
from operations.services import wait_ready_helper
from operations.settings import COMPONENTS

context.validate_inventory()

modules = {c: importlib.import_module(f"operations.{c}") for c in COMPONENTS if context.runs(c)}
if modules:
    wait_ready_helper()
# Every service user first: some packages create users as a side effect.
plan_service_users([(c, m.home(context.settings())) for c, m in modules.items()],
                   name="Create the service users")
for module in modules.values():
    module.install()
# Grafana's data sources, folder and dashboards, over its API once its service is ready
if "grafana" in modules:
    importlib.import_module("operations.grafana_provisioning").install()
