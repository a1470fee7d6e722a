"""Example inventory: a small production fleet. Copy it, put your hosts in, deploy:

    pyinfra inventories/prod.py deploy.py --dry    # preview
    pyinfra inventories/prod.py deploy.py          # roll out

Groups decide what runs where (each is a setting, see group_data/all.py):
  monitoring  Prometheus and Alertmanager (prometheus_group, alertmanager_group)
  redis       hosts running Redis get redis_exporter (redis_exporter_group)
  postgres    hosts running PostgreSQL get postgres_exporter (postgres_exporter_group)
Every host gets node_exporter. Other groups (here `web`) only organise hosts; Prometheus
scrapes every host's exporters without you listing them.
"""

monitoring = [
    ("mon1.example.internal", {"ssh_user": "deploy", "_sudo": True}),
]

web = [
    "web1.example.internal",
    "web2.example.internal",
]

redis = ["cache1.example.internal"]

postgres = [
    # the address Prometheus should scrape, when it differs from the SSH name
    ("db1.example.internal", {"scrape_address": "10.0.0.21"}),
]
