"""Alertmanager: server.py (COMPONENT, cluster, install), routing.py (alertmanager.yml:
routes, time intervals, inhibit rules, templates), receivers.py (receivers, secrets)."""
