"""An operator monitors a web and database host: MariaDB, nginx and HAProxy from Debian 12.

Two hosts: a monitoring host (Prometheus, Alertmanager) and a Debian 12 host running
MariaDB, nginx and HAProxy as installed from Debian. The exporters are upstream-shaped
archives from the mirror (Debian sid's builds): mysqld_exporter logs in over the socket
as the database user the deploy creates (unix_socket authentication, no password);
nginx_exporter reads the loopback status server the deploy writes into conf.d
(nginx_exporter_add_status_server); HAProxy serves its own metrics through the frontend
the operator added (what the deploy advises), scraped with nothing installed.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.dashboards import queries, substitute
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, http_json,
                           mirror_settings, prom_query, wait_for, wait_targets_up)
from harness.removal import inventory_with, switch_off_and_purge

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2)
COMPONENTS = ["prometheus", "alertmanager", "node_exporter", "mysqld_exporter",
              "nginx_exporter"]
# The operator's HAProxy: a site in front of nginx, and the metrics frontend the deploy's
# advice names (operations/components/haproxy.py frontend()).
HAPROXY_CFG = """
frontend site
    bind *:8081
    default_backend web

backend web
    server nginx1 127.0.0.1:80 check

frontend prometheus
    mode http
    bind *:8405
    http-request use-service prometheus-exporter if { path /metrics }
    no log
"""


def install_web_and_db(host) -> None:
    host.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
             "mariadb-server nginx haproxy >/dev/null", timeout=900)
    host.ssh(f"cat >> /etc/haproxy/haproxy.cfg <<'EOF'\n{HAPROXY_CFG}EOF\n"
             "haproxy -c -q -f /etc/haproxy/haproxy.cfg && systemctl restart haproxy && "
             "systemctl is-active mariadb nginx haproxy")


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    monitoring, web = hosts
    install_web_and_db(web)
    settings = {**mirror_settings(mirror, components=COMPONENTS), **CORE_ONLY,
                "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
                "mysqld_exporter_create_db_user": True,
                "nginx_exporter_add_status_server": True}
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [monitoring], "mysql": [web], "nginx": [web], "haproxy": [web]},
        group_data={"all": settings})
    dry, real = preview_then_run(inventory)
    return {"inventory": inventory, "monitoring": monitoring, "web": web,
            "dry": dry, "real": real}


def test_dry_run_matches_the_first_run(stack):
    assert_preview_was_exact(stack["dry"], stack["real"])


def test_every_target_is_up(stack):
    web = stack["web"].ip
    wait_targets_up(stack["monitoring"], {("mysql", f"{web}:9104"), ("nginx", f"{web}:9113"),
                                          ("haproxy", f"{web}:8405"), ("node", f"{web}:9100")})


def test_the_metrics_the_rules_use_are_there(stack):
    prometheus = stack["monitoring"]
    # logged in over the socket as the user the deploy created (unix_socket)
    assert [r["value"][1] for r in prom_query(prometheus, "mysql_up")] == ["1"]
    assert prom_query(prometheus, "mysql_global_variables_max_connections > 0")
    assert prom_query(prometheus, "mysql_global_status_threads_connected")
    # nginx's counters through the status server the deploy wrote
    assert [r["value"][1] for r in prom_query(prometheus, "nginx_up")] == ["1"]
    assert prom_query(prometheus, "nginx_connections_accepted")
    assert prom_query(prometheus, "nginx_connections_handled")
    # HAProxy's own endpoint: the backend in front of nginx is up
    up = prom_query(prometheus, 'haproxy_backend_status{proxy="web",state="UP"}')
    assert [r["value"][1] for r in up] == ["1"]
    assert prom_query(prometheus, 'haproxy_server_status{proxy="web",server="nginx1"}')


def empty_panels(prometheus, uids) -> list:
    """Every query of the dashboards `uids`, as Grafana sends it with "All" selected,
    that the real Prometheus answers with no series."""
    return [(uid, where) for uid, where, expr, model in queries("prometheus")
            if uid in uids and not prom_query(prometheus, substitute(expr, model,
                                                                      all_values=True))]


def test_every_query_of_the_three_dashboards_returns_data(stack):
    """monstack-mysql, monstack-nginx and monstack-haproxy on real traffic: requests
    through HAProxy to nginx and queries to MariaDB for a minute of scrapes. Every query
    answers but the replication lag's, which only a replica has."""
    prometheus, web = stack["monitoring"], stack["web"]
    web.ssh("for i in $(seq 30); do curl -fsS -o /dev/null http://127.0.0.1:8081/; "
            "curl -s -o /dev/null http://127.0.0.1:8081/missing; "
            "mariadb -NBe 'SELECT SLEEP(0.01), COUNT(*) FROM mysql.user' >/dev/null; "
            "sleep 2; done", timeout=300)
    wait_for("three scrapes of each exporter", lambda: len(prom_query(
        prometheus, 'sum_over_time(up{job=~"mysql|nginx|haproxy"}[5m]) >= 3')) == 3,
        timeout=120, interval=3)
    # a replica's series: none on this standalone server (its query and metric names are
    # checked by tests/unit/test_dashboards.py against the real exporter build)
    replica_only = [("monstack-mysql", "panel 7 'Replication lag' ref A"),
                    ("monstack-mysql", "panel 7 'Replication lag' ref B")]
    assert empty_panels(prometheus, {"monstack-mysql", "monstack-nginx",
                                     "monstack-haproxy"}) == replica_only


def test_the_rules_load(stack):
    groups = http_json(f"http://{stack['monitoring'].ip}:9090/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {"mysql.rules", "nginx.rules", "haproxy.rules"} <= names
    assert all(r.get("health") == "ok" for g in groups for r in g["rules"])


def test_the_files_on_the_web_host(stack):
    web = stack["web"]
    # the login is readable by the exporter's group only, and holds no password
    assert web.ssh("stat -c '%U %G %a' /etc/mysqld_exporter/.my.cnf").stdout.split() == \
        ["root", "mysqld_exporter", "640"]
    assert "password" not in web.ssh("cat /etc/mysqld_exporter/.my.cnf").stdout
    grants = web.ssh("mariadb -NBe \"SHOW GRANTS FOR 'mysqld_exporter'@'localhost'\"").stdout
    assert "unix_socket" in grants and "MAX_USER_CONNECTIONS 3" in grants, grants
    # the status server is in nginx's live config, which nginx -t accepts, on loopback only
    assert "listen 127.0.0.1:8080;" in web.ssh(
        "cat /etc/nginx/conf.d/monstack-stub-status.conf").stdout
    assert web.ssh("nginx -t -q").returncode == 0
    assert web.ssh("ls -A /etc/nginx/conf.d").stdout.split() == ["monstack-stub-status.conf"]
    # nothing was installed for HAProxy: no service user, no unit of ours
    assert web.ssh("id haproxy").returncode == 0   # Debian's package's own user
    assert web.ssh("test -e /etc/systemd/system/haproxy.service", check=False).returncode != 0


def test_a_second_run_changes_nothing(stack):
    assert_rerun_changes_nothing(
        lambda: run_pyinfra(stack["inventory"]),
        [(stack["web"], ["mysqld_exporter", "nginx_exporter", "nginx", "haproxy", "mariadb"]),
         (stack["monitoring"], ["prometheus", "alertmanager"])])


def test_switching_everything_off_removes_it_cleanly(stack, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    # haproxy is scrape-only: the deploy put nothing there, so nothing is removed; the
    # operator's own services run on
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["monitoring"], ["prometheus", "alertmanager", "node_exporter"]),
                          (stack["web"], ["node_exporter", "mysqld_exporter", "nginx_exporter",
                                          "haproxy"])])
    assert stack["web"].ssh("systemctl is-active mariadb nginx haproxy").returncode == 0
