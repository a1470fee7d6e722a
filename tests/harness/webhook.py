"""A webhook receiver on the controller: records what Alertmanager posts to it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.fleet import CONTROLLER_IP


class WebhookReceiver:
    def __init__(self, host: str, port: int = 0, path: str = "/hook"):
        self.payloads: list[dict] = []
        # (time.monotonic() of arrival, payload), for tests that count deliveries
        self.received: list[tuple[float, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"raw": body.decode(errors="replace")}
                receiver.payloads.append(payload)
                receiver.received.append((time.monotonic(), payload))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}{path}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def alert_names(self) -> set[str]:
        return {a["labels"].get("alertname") for p in self.payloads for a in p.get("alerts", [])}

    def wait_for_alert(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.payloads:
                for a in p.get("alerts", []):
                    if a["labels"].get("alertname") == name:
                        return a
            time.sleep(0.5)
        raise AssertionError(f"no {name} alert within {timeout:.0f} s; got {self.alert_names()}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def webhook_fixture(path: str):
    """A module-scoped fixture: a receiver on the controller (reachable from the fleet
    hosts) at `path`, stopped after the module."""

    @pytest.fixture(scope="module")
    def _webhook(fleet):
        receiver = WebhookReceiver(CONTROLLER_IP, path=path)
        yield receiver
        receiver.stop()

    return _webhook
