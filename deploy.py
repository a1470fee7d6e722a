"""The monitoring stack, one component after the other.

    pyinfra inventories/prod.py deploy.py          # a fleet over SSH
    pyinfra @local deploy.py                       # this machine
    pyinfra --dry inventories/prod.py deploy.py    # preview every change

Every host's settings are validated before anything is planned; each component module
then installs what that host runs (see group_data/all.py for every setting). Grafana is
provisioned last, from the controller over its HTTP API.
"""

from operations.stack import plan_host

plan_host()
