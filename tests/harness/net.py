"""A free TCP (or UDP) port on 127.0.0.1 for a program a test starts, its metrics, the
program running for a with block, and HTTP requests to it."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics(port: int, proc, seconds: float = 20) -> str:
    """The /metrics page of the program `proc` serves on 127.0.0.1:`port`, once it
    answers (within `seconds`); the program must not end meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError("no /metrics")


def http_request(url: str, body: bytes | None = None, kind: str | None = None,
                 timeout: float = 15) -> tuple[int, bytes, str]:
    """(status, body, Content-Type) of a GET (or, with `body`, a POST of Content-Type
    `kind`) to `url`, asked again until the program there answers (within `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
        if kind:
            req.add_header("Content-Type", kind)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Running:
    """`argv` started (its output in .proc.stdout), terminated when the with block ends."""

    def __init__(self, argv):
        self.proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
