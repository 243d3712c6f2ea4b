"""Real dbs-control and dbs-gateway processes for the SDK tests, and the three
official client flavours pointed at them."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

BIN_DIR = Path(os.environ.get("DBS_BIN_DIR", Path(__file__).resolve().parents[2] / "target" / "debug"))


def binary(name):
    path = BIN_DIR / name
    assert path.exists(), f"{path} is missing: run scripts/test.sh (it builds the binaries)"
    return str(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, what, timeout=30.0, step=0.2):
    """Polls `predicate` until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Control:
    """A dbs-control process on a free port with its own data dir."""

    def __init__(self, data_dir, *extra):
        self.data_dir = Path(data_dir)
        self.extra = list(extra)
        self.port = free_port()
        self.proc = None
        self.key_id, self.key_secret = self.create_key()
        self.gateway_key_id, self.gateway_key_secret = self.create_key("--role", "gateway")

    def create_key(self, *args):
        """A new AccessKey (a user key unless `args` say otherwise): (id, secret)."""
        out = subprocess.run(
            [binary("dbs-control"), "access-key", "create", "--data-dir", str(self.data_dir), *args],
            check=True, capture_output=True, text=True)
        key = json.loads(out.stdout)
        return key["AccessKeyId"], key["AccessKeySecret"]

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.log = self.data_dir.parent / "control.log"
        self.proc = subprocess.Popen(
            [binary("dbs-control"), "serve", "--listen", self.endpoint,
             "--data-dir", str(self.data_dir), "--log-json", *self.extra],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_until(lambda: _port_open(self.port), "dbs-control to listen")
        return self

    def log_events(self, message):
        """The JSON log lines of this control plane whose message is `message`."""
        events = []
        for line in self.log.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") == message:
                events.append(event)
        return events

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


class Gateway:
    """A dbs-gateway agent process with a config written for `control`, and
    a gateway AccessKey of its own (bound by its first heartbeat)."""

    def __init__(self, workdir, control, identifier="db-host-1", extra_toml=""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "gateway.toml"
        self.key_id, self.key_secret = control.create_key("--role", "gateway")
        secret_file = self.dir / "secret"
        secret_file.write_text(self.key_secret + "\n")
        self.config.write_text(f"""
[gateway]
identifier = "{identifier}"
state_dir = "{self.dir / 'state'}"

[control]
endpoint = "http://{control.endpoint}"
access_key_id = "{self.key_id}"
access_key_secret_file = "{secret_file}"
{extra_toml}
""")
        self.proc = None
        self.log = self.dir / "agent.log"

    def start(self):
        self.proc = subprocess.Popen(
            [binary("dbs-gateway"), "run", "--config", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        return self

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def _port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def tea_client(control, algorithm=None, secret=None):
    """alibabacloud-dbs20190306: v3 signatures by default, v1 with algorithm='v2'."""
    from alibabacloud_dbs20190306.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    config = open_api_models.Config(
        access_key_id=control.key_id,
        access_key_secret=secret or control.key_secret,
        endpoint=control.endpoint, protocol="http", region_id="cn-hangzhou")
    if algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


def legacy_call(control, request, secret=None):
    """aliyun-python-sdk-dbs over aliyun-python-sdk-core (v1 signatures): the JSON answer."""
    from aliyunsdkcore.client import AcsClient
    client = AcsClient(control.key_id, secret or control.key_secret, "cn-hangzhou")
    request.set_endpoint(control.endpoint)
    request.set_protocol_type("http")
    return json.loads(client.do_action_with_exception(request))


def online_gateway_id(dbs, identifier, region="cn-hangzhou"):
    """The BackupGatewayId of gateway `identifier` once DescribeBackupGatewayList
    (through the SDK client `dbs`) shows it ONLINE, else None."""
    from alibabacloud_dbs20190306 import models
    body = dbs.describe_backup_gateway_list(
        models.DescribeBackupGatewayListRequest(region=region, identifier=identifier)).body
    items = body.items.backup_gateway if body.items else []
    return items[0].backup_gateway_id if items and items[0].backup_gateway_status == "ONLINE" else None


def raw_call(control, action, **params):
    """An action through alibabacloud-dbs20190306's client, answering the raw
    JSON body (the SDK models drop fields they do not know)."""
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions
    request = utils_models.OpenApiRequest(query={k: str(v) for k, v in params.items()})
    call = utils_models.Params(action=action, version="2019-03-06", protocol="HTTP", pathname="/",
                               method="POST", auth_type="AK", style="RPC", req_body_type="formData",
                               body_type="json")
    return tea_client(control).call_api(call, request, RuntimeOptions())["body"]


def as_gateway(control, action, **params):
    """A signed gateway action, as the agent sends it (v1 signature, the
    control plane's gateway key): the JSON answer."""
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.request import CommonRequest
    client = AcsClient(control.gateway_key_id, control.gateway_key_secret, "cn-hangzhou")
    request = CommonRequest(domain=control.endpoint, version="2019-03-06", action_name=action)
    request.set_protocol_type("http")
    request.set_method("POST")
    for key, value in params.items():
        request.add_query_param(key, value)
    return json.loads(client.do_action_with_exception(request))


def add_set(control, tmp_path, plan, name, content=b"payload", kind="full"):
    """`dbs-control backup-set add` of `content` as set `name` of `plan`: its JSON answer."""
    source = tmp_path / f"source-{name}"
    source.write_bytes(content)
    out = subprocess.run(
        [binary("dbs-control"), "backup-set", "add", "--data-dir", str(control.data_dir),
         "--plan", plan, "--kind", kind, "--name", name, str(source)],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout)
