"""HAProxy: its own Prometheus endpoint, scraped on hosts of the haproxy group.

HAProxy 2.0 and later carry a Prometheus exporter as a service of their own
(`http-request use-service prometheus-exporter`, addons/promex); Debian 12's haproxy
2.6.12 is built with it (`haproxy -vv`: "Built with the Prometheus exporter as a
service"). So there is no exporter to install: this component is scrape-only. It has
no install method, version or extra flags, because monstack installs and runs nothing
for it: HAProxy is the operator's program, from whatever source, upgraded on the
operator's schedule, and the endpoint is part of its configuration. Its settings say
where Prometheus finds the endpoint (haproxy_port at the host's address) and which
hosts have one (haproxy_group).

The deploy does not edit haproxy.cfg: Debian's unit reads that one file, which is the
operator's and routes production traffic; a deploy rewriting it could take a load
balancer down. Instead it asks whether the endpoint answers and, when not, says in its
output the frontend to add (the same lines the end-to-end test adds).
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy

from operations.base.component import Component
from operations.base.facts import HttpAnswers
from operations.base.inventory import bind_address, settings

NAME = "haproxy"
# every line of the endpoint's output starts with one of its metric families; this one
# is always there (addons/promex/service-prometheus.c at v2.6.0: "haproxy_process_")
MARKER = "haproxy_process_"


COMPONENT = Component(
    name=NAME,
    help="HAProxy's built-in Prometheus endpoint, scraped on hosts of the haproxy group "
         "(nothing is installed)",
    port=8405, group="haproxy", listen_address="auto",
    scrape_job=("haproxy", "HAProxy"),
    scrape_only=True,
)


def frontend(address: str, port: int) -> str:
    """The haproxy.cfg lines that serve the endpoint."""
    bind = f"[{address}]" if ":" in address else address
    return ("frontend prometheus\n"
            "    mode http\n"
            f"    bind {bind}:{port}\n"
            "    http-request use-service prometheus-exporter if { path /metrics }\n"
            "    no log\n")


def home(s) -> str | None:
    """No service user: HAProxy runs as Debian's package made it."""
    return None


@deploy("haproxy")
def install():
    s = settings()
    address = bind_address(NAME)
    reach = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    if not host.get_fact(HttpAnswers, address=reach, port=s.haproxy_port, path="/metrics",
                         marker=MARKER):
        host.log("haproxy: nothing serves HAProxy's metrics at "
                 f"{reach}:{s.haproxy_port}/metrics; add to /etc/haproxy/haproxy.cfg and "
                 "reload haproxy:\n" + frontend(address, s.haproxy_port), logger.warning)
