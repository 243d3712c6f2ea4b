"""The agent reaches the control plane through the proxy named in gateway.toml,
and ignores proxy environment variables (a systemd service has none)."""

import http.server
import threading
import urllib.request

from harness import Control, Gateway, free_port, tea_client, wait_until
from alibabacloud_dbs20190306 import models


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """A plain HTTP forward proxy that records the request lines it forwards."""

    def __init__(self):
        self.seen = []
        super().__init__(("127.0.0.1", free_port()), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.server.seen.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection", "connection")}
        request = urllib.request.Request(self.path, data=body, headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as upstream:
                status, payload, ctype = upstream.status, upstream.read(), upstream.headers.get("Content-Type")
        except urllib.error.HTTPError as e:
            status, payload, ctype = e.code, e.read(), e.headers.get("Content-Type")
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_agent_goes_through_the_configured_proxy_only(tmp_path, monkeypatch):
    proxy = ForwardingProxy()
    control = Control(tmp_path / "control", "--heartbeat-interval", "1").start()
    # A dead proxy in the environment must not matter.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    # extra_toml lands right after the [control] keys.
    gateway = Gateway(tmp_path / "gw", control, identifier="behind-proxy",
                      extra_toml=f'proxy = "{proxy.url}"').start()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name)
    try:
        dbs = tea_client(control)

        def online():
            body = dbs.describe_backup_gateway_list(models.DescribeBackupGatewayListRequest(
                region="cn-hangzhou", identifier="behind-proxy")).body
            items = body.items.backup_gateway if body.items else []
            return items and items[0].backup_gateway_status == "ONLINE"
        wait_until(online, "the gateway to be ONLINE through the proxy")
        assert any(f"127.0.0.1:{control.port}" in line for line in proxy.seen), proxy.seen
    finally:
        gateway.kill()
        control.stop()
        proxy.shutdown()
