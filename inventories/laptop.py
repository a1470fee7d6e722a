"""Example inventory: the machine you sit at, watching itself.

    pyinfra --sudo inventories/laptop.py deploy.py     # like `pyinfra @local deploy.py`

One host in no `monitoring` group is its own monitoring host, so this machine runs
node_exporter, Prometheus, Alertmanager, Grafana, Loki and Alloy (cAdvisor only if you
also put it in a `docker` group). What you open in a browser listens on 127.0.0.1 only
(http://localhost:3000 for Grafana), not on the network you are on (a café's Wi-Fi).
"""

laptop = [
    ("@local", {
        "prometheus_listen_address": "127.0.0.1",
        "alertmanager_listen_address": "127.0.0.1",
        "grafana_listen_address": "127.0.0.1",
        "loki_listen_address": "127.0.0.1",
    }),
]
