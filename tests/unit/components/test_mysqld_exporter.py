"""mysqld_exporter: its settings, its .my.cnf, the SQL that makes its database user, and
Debian's real builds (bookworm 0.14.0 below the floor, trixie 0.17.2, sid 0.19.0)
reading the .my.cnf the deploy writes."""

from __future__ import annotations

import subprocess

import pytest

from harness import debian
from harness.net import free_port, metrics
from operations.base.facts import MysqlUser
from operations.base.schema import SettingsError
from operations.components import mysqld_exporter as me
from operations.stack import validate

NAME = "mysqld_exporter"
PROVEN_SUITES = ("trixie", "sid")


# -- settings ----------------------------------------------------------------------------
def test_defaults_log_in_over_the_socket_without_password():
    s = validate("db1", {})
    assert (s.mysqld_exporter_port, s.mysqld_exporter_group) == (9104, "mysql")
    assert s.mysqld_exporter_db_user == "mysqld_exporter"
    assert s.mysqld_exporter_password_secret is None
    assert s.mysqld_exporter_create_db_user is False
    assert me.my_cnf(s, None) == ("# written by monstack: mysqld_exporter's login\n"
                                  "[client]\nuser = mysqld_exporter\n"
                                  "socket = /run/mysqld/mysqld.sock\n")


def test_a_tcp_login_needs_a_password():
    with pytest.raises(SettingsError, match="mysqld_exporter_address .* needs "
                                            "mysqld_exporter_password_secret"):
        validate("db1", {"mysqld_exporter_address": "10.0.0.5:3306"})


def test_a_socket_login_is_the_system_users_own_name():
    with pytest.raises(SettingsError, match="'monitor' without mysqld_exporter_password_secret"):
        validate("db1", {"mysqld_exporter_db_user": "monitor"})
    validate("db1", {"mysqld_exporter_db_user": "monitor",
                     "mysqld_exporter_password_secret": "MYSQL_MONITOR_PASSWORD"})


def test_a_user_name_that_would_break_the_sql_is_refused():
    with pytest.raises(SettingsError, match="letters, digits"):
        validate("db1", {"mysqld_exporter_db_user": "x'; DROP USER root; --",
                         "mysqld_exporter_password_secret": "P"})


def test_tcp_login_with_password():
    s = validate("db1", {"mysqld_exporter_address": "10.0.0.5:3307",
                         "mysqld_exporter_password_secret": "P"})
    text = me.my_cnf(s, "pa#ss;wo'rd")
    assert "host = 10.0.0.5\nport = 3307\n" in text and "socket" not in text
    assert text.endswith("password = `pa#ss;wo'rd`\n")


def test_a_password_the_file_cannot_carry_is_refused():
    s = validate("db1", {"mysqld_exporter_password_secret": "P"})
    for bad in ("with`backquote", "two\nlines"):
        with pytest.raises(SettingsError, match="backquote or a newline"):
            me.my_cnf(s, bad)


# -- the database user -------------------------------------------------------------------
MARIADB = "10.11.6-MariaDB-0+deb12u1"


def sql(statements, masked=True) -> list[str]:
    from pyinfra.api.command import StringCommand
    out = []
    for pieces in statements:
        command = StringCommand(*pieces, separator="")
        text = command.get_masked_value() if masked else command.get_raw_value()
        out.append(" ".join(text.split()))  # pyinfra pads a hidden value with spaces
    return out


def test_a_missing_user_on_mariadb_is_created_for_unix_socket_with_the_grants():
    found = {"version": MARIADB, "exists": False, "max_user_connections": 0, "grants": []}
    assert sql(me.user_statements(found, "mysqld_exporter", None)) == [
        "CREATE USER 'mysqld_exporter'@'localhost' IDENTIFIED VIA unix_socket "
        "WITH MAX_USER_CONNECTIONS 3",
        # SLAVE MONITOR: MariaDB 10.5.9+ needs it for SHOW SLAVE STATUS
        "GRANT PROCESS, REPLICATION CLIENT, SELECT, SLAVE MONITOR ON *.* TO "
        "'mysqld_exporter'@'localhost'"]


def test_on_mysql_the_socket_plugin_is_auth_socket_and_no_slave_monitor():
    found = {"version": "8.0.36", "exists": False, "max_user_connections": 0, "grants": []}
    assert sql(me.user_statements(found, "mysqld_exporter", None)) == [
        "CREATE USER 'mysqld_exporter'@'localhost' IDENTIFIED WITH auth_socket "
        "WITH MAX_USER_CONNECTIONS 3",
        "GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'mysqld_exporter'@'localhost'"]


def test_a_password_never_shows_in_the_planned_sql():
    found = {"version": MARIADB, "exists": False, "max_user_connections": 0, "grants": []}
    statements = me.user_statements(found, "monitor", "s3cr'et")
    shown = sql(statements)[0]
    # the mask pyinfra itself prints for a hidden value ("***" in 3.8, "*MASKED*" in 3.10)
    (mask,) = sql([[me.Hidden("s3cr'et")]])
    assert "s3cr" not in shown and mask and mask in shown, shown
    assert sql(statements, masked=False)[0] == (
        "CREATE USER 'monitor'@'localhost' IDENTIFIED BY 's3cr\\'et' WITH MAX_USER_CONNECTIONS 3")


def test_a_complete_user_needs_nothing_binlog_monitor_being_replication_client():
    # MariaDB 10.5+ shows REPLICATION CLIENT under its new name, BINLOG MONITOR
    found = {"version": MARIADB, "exists": True, "max_user_connections": 3,
             "grants": ["BINLOG MONITOR", "PROCESS", "SELECT", "SLAVE MONITOR"]}
    assert me.user_statements(found, "mysqld_exporter", None) == []


def test_replica_monitor_is_slave_monitor():
    found = {"version": MARIADB, "exists": True, "max_user_connections": 3,
             "grants": ["BINLOG MONITOR", "PROCESS", "REPLICA MONITOR", "SELECT"]}
    assert me.user_statements(found, "mysqld_exporter", None) == []


def test_an_existing_user_is_completed_not_recreated():
    found = {"version": MARIADB, "exists": True, "max_user_connections": 0,
             "grants": ["PROCESS", "SELECT"]}
    assert sql(me.user_statements(found, "mysqld_exporter", None)) == [
        "ALTER USER 'mysqld_exporter'@'localhost' WITH MAX_USER_CONNECTIONS 3",
        "GRANT PROCESS, REPLICATION CLIENT, SELECT, SLAVE MONITOR ON *.* TO "
        "'mysqld_exporter'@'localhost'"]


@pytest.mark.parametrize("output,fact", [
    (["user:10.11.6-MariaDB-0+deb12u1|1|3|PROCESS,SELECT,BINLOG MONITOR"],
     {"version": "10.11.6-MariaDB-0+deb12u1", "exists": True, "max_user_connections": 3,
      "grants": ["BINLOG MONITOR", "PROCESS", "SELECT"]}),
    (["user:8.0.36|0|0|"],
     {"version": "8.0.36", "exists": False, "max_user_connections": 0, "grants": []}),
    (["unavailable"], None),
    (["user:garbage"], None),
])
def test_the_user_fact(output, fact):
    assert MysqlUser().process(output) == fact


# -- Debian's real builds ----------------------------------------------------------------
@pytest.mark.parametrize("suite", PROVEN_SUITES)
def test_the_flags_the_unit_gives_exist(suite):
    res = subprocess.run([str(debian.program(NAME, suite)), "--help"],
                         capture_output=True, text=True, timeout=30)
    help_text = res.stdout + res.stderr
    for flag in ("--config.my-cnf", "--web.listen-address", "--web.config.file"):
        assert flag in help_text, (suite, flag)


def write_cnf(tmp_path, text: str):
    path = tmp_path / "my.cnf"
    path.write_text(text)
    return path


def test_debian_12s_build_refuses_the_passwordless_login_hence_the_floor(tmp_path):
    s = validate("db1", {})
    cnf = write_cnf(tmp_path, me.my_cnf(s, None))
    res = subprocess.run([str(debian.program(NAME, "bookworm")), f"--config.my-cnf={cnf}",
                          f"--web.listen-address=127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "password or ssl-key should be specified" in res.stdout + res.stderr
    assert debian.upstream_version(NAME) < me.FLOOR


@pytest.mark.parametrize("suite", PROVEN_SUITES)
@pytest.mark.parametrize("with_password", [False, True])
def test_proven_builds_read_the_cnf_and_report_mysql_up(tmp_path, suite, with_password):
    """The file the deploy writes loads (config_last_reload_successful 1); with no server
    behind the socket the exporter answers mysql_up 0, what MysqlDown alerts on."""
    s = validate("db1", {"mysqld_exporter_socket": str(tmp_path / "none.sock"),
                         **({"mysqld_exporter_password_secret": "P"} if with_password else {})})
    cnf = write_cnf(tmp_path, me.my_cnf(s, "pa#ss;wo'rd" if with_password else None))
    port = free_port()
    proc = subprocess.Popen([str(debian.program(NAME, suite)), f"--config.my-cnf={cnf}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text = metrics(port, proc)
    finally:
        proc.terminate()
        proc.wait(10)
    # it runs (a .my.cnf it cannot load ends it at start, see below) and reports the
    # server it cannot reach
    assert "mysql_up 0" in text.splitlines()


@pytest.mark.parametrize("suite", PROVEN_SUITES)
def test_a_cnf_without_user_ends_it_at_start(tmp_path, suite):
    """The control of the test above: a file it cannot load stops it at once."""
    cnf = write_cnf(tmp_path, "[client]\nsocket = /run/mysqld/mysqld.sock\n")
    res = subprocess.run([str(debian.program(NAME, suite)), f"--config.my-cnf={cnf}",
                          f"--web.listen-address=127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "no user specified" in res.stdout + res.stderr
