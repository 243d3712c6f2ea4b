"""A gateway's life as the official SDKs see it: registered ONLINE with the
right host name, OFFLINE after a kill, STOPPED after SIGTERM, still known after
dbs-control restarts."""

import socket

import pytest
from alibabacloud_dbs20190306 import models
from aliyunsdkdbs.request.v20190306.DescribeBackupGatewayListRequest import DescribeBackupGatewayListRequest

from harness import Control, Gateway, legacy_call, tea_client, wait_until

REGION = "cn-hangzhou"


def gateways_tea(control, algorithm=None, identifier=None):
    request = models.DescribeBackupGatewayListRequest(region=REGION, identifier=identifier)
    body = tea_client(control, algorithm).describe_backup_gateway_list(request).body
    return body.items.backup_gateway if body.items else []


def gateways_legacy(control):
    request = DescribeBackupGatewayListRequest()
    request.set_Region(REGION)
    return legacy_call(control, request)["Items"]["BackupGateway"]


def status_of(control, identifier):
    found = [g for g in gateways_tea(control) if g.identifier == identifier]
    return found[0].backup_gateway_status if found else None


@pytest.fixture
def control(tmp_path):
    control = Control(tmp_path / "control", "--heartbeat-interval", "1", "--offline-after", "4").start()
    yield control
    control.stop()


def test_gateway_lifecycle_through_every_sdk(tmp_path, control):
    gateway = Gateway(tmp_path / "gw", control, identifier="db-host-1").start()
    try:
        wait_until(lambda: status_of(control, "db-host-1") == "ONLINE", "the gateway to be ONLINE")

        # alibabacloud-dbs20190306, default (v3) signatures.
        [v3] = gateways_tea(control, identifier="db-host-1")
        assert v3.backup_gateway_status == "ONLINE"
        assert v3.source_endpoint_hostname == socket.gethostname()
        assert v3.region == REGION
        assert v3.backup_gateway_id.isdigit()
        assert v3.last_heartbeat_time >= v3.backup_gateway_create_time > 0

        # The same with v1 signatures.
        [v1] = gateways_tea(control, algorithm="v2", identifier="db-host-1")
        assert (v1.backup_gateway_id, v1.source_endpoint_hostname) == (v3.backup_gateway_id, socket.gethostname())

        # aliyun-python-sdk-dbs.
        [legacy] = gateways_legacy(control)
        assert legacy["BackupGatewayId"] == v3.backup_gateway_id
        assert legacy["BackupGatewayStatus"] == "ONLINE"
        assert legacy["SourceEndpointHostname"] == socket.gethostname()

        # Killed without a goodbye: OFFLINE once heartbeats stop.
        gateway.kill()
        wait_until(lambda: status_of(control, "db-host-1") == "OFFLINE", "the gateway to go OFFLINE")

        # Back, then stopped with SIGTERM: STOPPED, same id.
        gateway.start()
        wait_until(lambda: status_of(control, "db-host-1") == "ONLINE", "the gateway to come back ONLINE")
        assert gateway.terminate() == 0
        assert status_of(control, "db-host-1") == "STOPPED"
        [stopped] = gateways_tea(control, identifier="db-host-1")
        assert stopped.backup_gateway_id == v3.backup_gateway_id

        # dbs-control restarts: the gateway is still known.
        control.stop()
        control.start()
        [after] = gateways_tea(control, identifier="db-host-1")
        assert after.backup_gateway_id == v3.backup_gateway_id
        assert after.backup_gateway_status == "STOPPED"

        # No secret reaches a log.
        for log in (gateway.log, control.log):
            for secret in (control.key_secret, gateway.key_secret):
                assert secret not in log.read_text(), log
    finally:
        if gateway.proc.poll() is None:
            gateway.kill()


def test_gateway_comes_back_after_a_control_plane_outage(tmp_path, control):
    gateway = Gateway(tmp_path / "gw", control, identifier="db-host-2").start()
    try:
        wait_until(lambda: status_of(control, "db-host-2") == "ONLINE", "the gateway to be ONLINE")
        first = gateways_tea(control, identifier="db-host-2")[0].last_heartbeat_time
        control.stop()
        control.start()
        wait_until(
            lambda: gateways_tea(control, identifier="db-host-2")[0].last_heartbeat_time > first,
            "a heartbeat after the control plane's return", timeout=20)
        assert gateway.proc.poll() is None
    finally:
        gateway.kill()


def test_identifier_filter_takes_a_comma_list(tmp_path, control):
    gateways = [Gateway(tmp_path / f"gw{i}", control, identifier=f"host-{i}").start() for i in range(3)]
    try:
        wait_until(lambda: len(gateways_tea(control)) == 3, "three gateways")
        listed = gateways_tea(control, identifier="host-0,host-2")
        assert sorted(g.identifier for g in listed) == ["host-0", "host-2"]
        assert gateways_tea(control, identifier="host-9") == []
    finally:
        for g in gateways:
            g.kill()


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_wrong_secret_is_refused_through_the_sdk(control, algorithm):
    from Tea.exceptions import TeaException
    client = tea_client(control, algorithm, secret="wrong")
    with pytest.raises(TeaException) as refused:
        client.describe_regions(models.DescribeRegionsRequest())
    assert refused.value.code == "SignatureDoesNotMatch"


def test_regions_through_every_sdk(control):
    from aliyunsdkdbs.request.v20190306.DescribeRegionsRequest import DescribeRegionsRequest
    codes = tea_client(control).describe_regions(models.DescribeRegionsRequest()).body.regions.region_code
    assert REGION in codes
    assert legacy_call(control, DescribeRegionsRequest())["Regions"]["RegionCode"] == codes
