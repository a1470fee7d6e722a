"""The demo's three throw-away hosts on this machine (README: "Try it: the demo").

`python3 -m demo up` creates them, installs Redis and PostgreSQL on the third, and
deploys this inventory with the settings it generates (its artifact mirror and their
sha256s, the file holding Grafana's admin password), from the repository's top folder:

    pyinfra -y --group-data /var/tmp/monstack-fleet/demo/group_data inventories/demo.py deploy.py
"""

from demo.profile import SSH, address

monitoring = [(address(1), SSH)]    # Prometheus, Alertmanager, Grafana, Loki
web = [(address(2), SSH)]           # node_exporter, Alloy (cAdvisor when the demo has it)
redis = [(address(3), SSH)]         # + redis_exporter
postgres = (
    [(address(3), SSH)],            # + postgres_exporter,
    {"postgres_exporter_create_db_user": True},  # which gets its own database role
)
