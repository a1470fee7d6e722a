"""The monitoring stack, one component after the other.

    pyinfra inventories/prod.py deploy.py          # a fleet over SSH
    pyinfra @local deploy.py                       # this machine
    pyinfra --dry inventories/prod.py deploy.py    # preview every change

Every host's settings are validated before anything is planned; each component module
then installs what that host runs (see group_data/all.py for every setting). Grafana is
provisioned last, from the controller over its HTTP API.
"""

import importlib

from pyinfra import host, state

from operations import context, fact_batch
from operations.install import plan_service_users
from operations.services import wait_ready_helper
from operations.settings import COMPONENTS

context.validate_inventory()
# Facts in one round trip per host (see operations/fact_batch.py).
fact_dir = context.settings().fact_batch_dir
if fact_dir:
    fact_batch.start(state, host, fact_dir)

modules = {c: importlib.import_module(f"operations.{c}") for c in COMPONENTS if context.runs(c)}
if modules:
    wait_ready_helper()
# Every service user first: some packages create users as a side effect.
plan_service_users([(c, m.home(context.settings())) for c, m in modules.items()],
                   name="Create the service users")
# host.loop over the whole catalogue: pyinfra tells operations apart by the line numbers
# of their call stack, and two components' modules can call the same helper on the same
# line; the loop adds each component's place in the catalogue, the same on every host,
# so redis_exporter's install on one host is never merged with blackbox_exporter's on
# another (shown under one of their names, at random, in --dry and in the results).
for component in host.loop(COMPONENTS):
    if component in modules:
        modules[component].install()
# Grafana's data sources, folder and dashboards, over its API once its service is ready
if "grafana" in modules:
    importlib.import_module("operations.grafana_provisioning").install()
