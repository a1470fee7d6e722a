"""What an address or a URL of the settings must look like, checked on the controller
before anything is planned: a typo here would otherwise only show on the host, as a
program that does not start, or never show (a scrape address nobody answers at).

Syntax only: no name is looked up here (a listen address is resolved on its own host,
a scrape address by Prometheus' host, neither necessarily by the controller).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# the listen addresses that bind every interface (IPv4; IPv6 and, by default, IPv4 too)
WILDCARDS = ("0.0.0.0", "::")
# a label of a host name (RFC 1123): letters, digits and hyphens, no hyphen at either end
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address as written (no brackets, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_host_name(text: str) -> bool:
    """A syntactically valid host name (RFC 1123). A name whose last label is a number is
    a mistyped IP address (`10.0.0`), not a name: no top-level domain is all digits."""
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    return (0 < len(name) <= 253 and all(HOST_LABEL_RE.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())


def listen_address_problem(key: str, value: str) -> str | None:
    """Why `value` cannot be the <component>_listen_address `key`, or None. The programs
    bind to it on their host: an IP address of it, every interface, or auto. A name
    would be resolved there, perhaps to several addresses or another one each start."""
    if value == "auto" or value in WILDCARDS or is_ip(value):
        return None
    if value == "":
        hint = "give '0.0.0.0' for every interface"
    elif is_ip(value.strip("[]")):
        hint = f"give it without brackets: {value.strip('[]')!r}"
    elif is_ip(value.rsplit(":", 1)[0].strip("[]")):
        port = key.replace("_listen_address", "_port")
        hint = f"give it without the port (that is {port})"
    elif value == "localhost":
        hint = "give '127.0.0.1' (or '::1')"
    elif is_host_name(value):
        hint = "give the IP address that name has on the host, not the name"
    else:
        hint = "check it for a typo"
    return (f"{key} ({value!r}) is not an IP address, 0.0.0.0 or :: (every interface) or "
            f"auto (the address Prometheus scrapes the host at): {hint}")


def scrape_address_problem(value: str) -> str | None:
    """Why `value` cannot be a scrape_address (where other hosts reach this one), or
    None: an IP address or a host name, not every interface."""
    if value in WILDCARDS:
        return (f"scrape_address ({value!r}) binds every interface but reaches no host: give "
                "the address other hosts reach this one at (an IP address or a host name)")
    if is_ip(value) or is_host_name(value):
        return None
    return (f"scrape_address ({value!r}) is neither an IP address nor a host name "
            "(letters, digits and hyphens between dots; no brackets, port or scheme): give "
            "the address other hosts reach this host at")


def url_problem(key: str, value: str, example: str, schemes=("http", "https")) -> str | None:
    """Why `value` cannot be the URL setting `key`, or None: one of `schemes` and a host
    (`example` shows the shape)."""
    try:
        parts = urlsplit(value)
        parts.port   # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        parts = None
    wanted = " or ".join(f"{scheme}://" for scheme in schemes)
    if (parts is None or parts.scheme not in schemes or re.search(r"\s", value)
            or not (parts.hostname or parts.scheme == "file")):
        return f"{key} ({value!r}) is not an {wanted} URL like {example}"
    return None
