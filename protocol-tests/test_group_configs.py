"""Dynamic group configs (KIP-848; Kafka 4.1's GROUP config resource, type
32): DescribeConfigs, IncrementalAlterConfigs and AlterConfigs through
confluent-kafka's AdminClient, validated against the broker's
group.consumer.* bounds, applied to live KIP-848 groups (the interval in
ConsumerGroupHeartbeat answers, the session timeout in member expiry),
kept across restarts; ListConfigResources (74) by raw request (no client
library exposes it)."""

import time
import uuid

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

import helpers
from clients import ck_admin, create_topic
from conftest import GROUP_OVERRIDES
from helpers import compact_string, i8, uvarint
from test_groups import RawConn, cg_heartbeat_v0

DEFAULT = ConfigSource.DEFAULT_CONFIG.value
GROUP = ConfigSource.GROUP_CONFIG.value  # DYNAMIC_GROUP_CONFIG, 8
ERR_NONE = 0
ERR_UNKNOWN_MEMBER_ID = 25
ERR_UNSUPPORTED_VERSION = 35

# Kafka 4.1's group configs and their defaults on a broker without group.* settings.
KAFKA_DEFAULTS = {
    "consumer.session.timeout.ms": "45000",
    "consumer.heartbeat.interval.ms": "5000",
    "share.session.timeout.ms": "45000",
    "share.heartbeat.interval.ms": "5000",
    "share.record.lock.duration.ms": "30000",
    "share.auto.offset.reset": "latest",
    "share.isolation.level": "read_uncommitted",
    "streams.session.timeout.ms": "45000",
    "streams.heartbeat.interval.ms": "5000",
    "streams.num.standby.replicas": "0",
}

# Lower bounds loose enough for a member to expire within a test.
LIVE_OVERRIDES = dict(GROUP_OVERRIDES, **{
    "group.consumer.min.session.timeout.ms": 1000,
    "group.consumer.min.heartbeat.interval.ms": 100,
})


@pytest.fixture(scope="module")
def gc_broker():
    yield from helpers.serve_broker(LIVE_OVERRIDES, name="group-configs-broker")


def unique_group(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def source(entry):
    s = entry.source
    return s.value if hasattr(s, "value") else int(s)


def describe_group(admin, group, **kwargs):
    fs = admin.describe_configs([ConfigResource(ResourceType.GROUP, group)], request_timeout=15, **kwargs)
    (future,) = fs.values()
    return future.result(20)


def alter_group(admin, group, entries, validate_only=False):
    res = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    fs = admin.incremental_alter_configs([res], validate_only=validate_only, request_timeout=15)
    (future,) = fs.values()
    return future.result(20)


def alter_error(admin, group, entries):
    with pytest.raises(KafkaException) as ei:
        alter_group(admin, group, entries)
    return ei.value.args[0]


def op(name, value, kind=AlterConfigOpType.SET):
    return ConfigEntry(name, value, incremental_operation=kind)


def test_describe_defaults_then_set_and_delete(gc_broker):
    """A group (existing or not) shows Kafka 4.1's ten group configs as
    DEFAULT_CONFIG; a SET makes one DYNAMIC_GROUP_CONFIG with that value
    and synonym; a DELETE brings the default back."""
    admin = ck_admin(gc_broker.bootstrap)
    group = unique_group("gc-desc")
    configs = describe_group(admin, group)
    assert {n: e.value for n, e in configs.items()} == KAFKA_DEFAULTS
    for name, e in configs.items():
        assert source(e) == DEFAULT, (name, e.source)
        assert not e.is_read_only and not e.is_sensitive
        assert [(s.name, s.value, source(s)) for s in e.synonyms.values()] == [(name, KAFKA_DEFAULTS[name], DEFAULT)]

    alter_group(admin, group, [op("consumer.heartbeat.interval.ms", "6000"),
                               op("share.auto.offset.reset", "by_duration:PT1H")])
    configs = describe_group(admin, group)
    hb = configs["consumer.heartbeat.interval.ms"]
    assert (hb.value, source(hb)) == ("6000", GROUP)
    assert [(s.name, s.value, source(s)) for s in hb.synonyms.values()] == [("consumer.heartbeat.interval.ms", "6000", GROUP)]
    assert configs["share.auto.offset.reset"].value == "by_duration:PT1H"
    st = configs["consumer.session.timeout.ms"]
    assert (st.value, source(st)) == ("45000", DEFAULT)

    alter_group(admin, group, [op("consumer.heartbeat.interval.ms", None, AlterConfigOpType.DELETE)])
    configs = describe_group(admin, group)
    hb = configs["consumer.heartbeat.interval.ms"]
    assert (hb.value, source(hb)) == ("5000", DEFAULT)
    assert source(configs["share.auto.offset.reset"]) == GROUP


def test_validation_errors_are_invalid_config(gc_broker):
    """Out-of-range and malformed values, unknown names, a session timeout
    not above the heartbeat interval and APPEND are INVALID_CONFIG; nothing
    is stored, and validate_only stores nothing either."""
    admin = ck_admin(gc_broker.bootstrap)
    group = unique_group("gc-invalid")
    cases = [
        ([op("consumer.heartbeat.interval.ms", "20000")], "group.consumer.max.heartbeat.interval.ms"),
        ([op("consumer.heartbeat.interval.ms", "50")], "group.consumer.min.heartbeat.interval.ms"),
        ([op("consumer.session.timeout.ms", "70000")], "group.consumer.max.session.timeout.ms"),
        ([op("consumer.session.timeout.ms", "abc")], "Not a number"),
        ([op("consumer.session.timeout.ms", "3000"), op("consumer.heartbeat.interval.ms", "3000")],
         "must be greater than consumer.heartbeat.interval.ms"),
        ([op("share.record.lock.duration.ms", "500")], "at least 1000"),
        ([op("streams.num.standby.replicas", "5")], "group.streams.max.standby.replicas"),
        ([op("share.isolation.level", "serializable")], "share.isolation.level"),
        ([op("no.such.key", "1")], "Unknown group config name"),
        ([op("consumer.session.timeout.ms", "50000", AlterConfigOpType.APPEND)], "not LIST"),
    ]
    for entries, text in cases:
        err = alter_error(admin, group, entries)
        assert err.code() == KafkaError.INVALID_CONFIG, (entries[0].name, err)
        assert text in err.str(), (text, err.str())
    alter_group(admin, group, [op("consumer.session.timeout.ms", "50000")], validate_only=True)
    configs = describe_group(admin, group)
    assert all(source(e) == DEFAULT for e in configs.values()), configs
    # Only groups with configs are listed, and this one has none.
    assert group not in [n for n, _ in list_config_resources(gc_broker.addr, 1, [32])[1]]


def test_alter_configs_replaces_group_overrides(gc_broker):
    """Legacy AlterConfigs (33) on a group: the given set becomes the whole set."""
    admin = ck_admin(gc_broker.bootstrap)
    group = unique_group("gc-legacy")
    alter_group(admin, group, [op("consumer.heartbeat.interval.ms", "6000")])
    res = ConfigResource(ResourceType.GROUP, group, set_config={"consumer.session.timeout.ms": "50000"})
    (future,) = admin.alter_configs([res], request_timeout=15).values()
    future.result(20)
    configs = describe_group(admin, group)
    assert (configs["consumer.session.timeout.ms"].value, source(configs["consumer.session.timeout.ms"])) == \
        ("50000", GROUP)
    assert source(configs["consumer.heartbeat.interval.ms"]) == DEFAULT


def test_live_group_gets_interval_and_session_timeout(gc_broker):
    """A KIP-848 member of a live group: its next ConsumerGroupHeartbeat
    answer carries the group's new consumer.heartbeat.interval.ms, and once
    the group's consumer.session.timeout.ms is 2 s a member that stops
    heartbeating is removed long before the broker's 45 s default."""
    b = gc_broker
    admin = ck_admin(b.bootstrap)
    topic = helpers.unique_topic("gc-live")
    group = unique_group("gc-live")
    create_topic(b.bootstrap, topic, 1)
    conn = RawConn(b.addr)
    try:
        member = "gc-member-" + uuid.uuid4().hex[:8]
        res = cg_heartbeat_v0(conn, group, member, 0, 60000, [topic], {})
        assert res[0] == ERR_NONE, res
        assert res[4] == 5000, "broker default interval: %r" % (res,)
        epoch = res[3]

        alter_group(admin, group, [op("consumer.heartbeat.interval.ms", "700")])
        res = cg_heartbeat_v0(conn, group, member, epoch, -1, None, None)
        assert res[0] == ERR_NONE, res
        assert res[4] == 700, res

        alter_group(admin, group, [op("consumer.session.timeout.ms", "2000")])
        # Stop heartbeating; the member must expire under the group's timeout.
        deadline = time.time() + 30
        members = None
        while time.time() < deadline:
            (future,) = admin.describe_consumer_groups([group], request_timeout=10).values()
            members = future.result(15).members
            if not members:
                break
            time.sleep(0.5)
        assert members == [], "member still present under a 2 s session timeout: %r" % (members,)
        res = cg_heartbeat_v0(conn, group, member, epoch, -1, None, None)
        assert res[0] == ERR_UNKNOWN_MEMBER_ID, res
    finally:
        conn.close()


def list_config_resources(addr, version, types=None):
    """ListConfigResources (74) -> (error, [(name, type)]); type is 16 at v0."""
    body = b"" if version == 0 else uvarint(len(types or []) + 1) + b"".join(i8(t) for t in types or [])
    body += uvarint(0)
    conn = RawConn(addr)
    try:
        r = conn.call(74, version, body, flexible=True)
    finally:
        conn.close()
    r.i32()  # throttle
    err = r.i16()
    out = []
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        rtype = r.i8() if version >= 1 else 16
        r.tagged_fields()
        out.append((name, rtype))
    r.tagged_fields()
    return err, out


def test_list_config_resources(gc_broker):
    """v1 lists groups with configs, brokers and topics (all types when none
    is given, else the requested ones); v0 (ListClientMetricsResources)
    lists client-metrics subscriptions, of which gregor has none; a type
    the version cannot list is UNSUPPORTED_VERSION."""
    b = gc_broker
    versions = helpers.api_versions_addr(b.addr)
    assert versions[1].get(74) == (0, 1), versions
    admin = ck_admin(b.bootstrap)
    topic = helpers.unique_topic("gc-list")
    group = unique_group("gc-list")
    create_topic(b.bootstrap, topic, 1)
    alter_group(admin, group, [op("consumer.session.timeout.ms", "50000")])

    err, res = list_config_resources(b.addr, 1)
    assert err == ERR_NONE
    assert (group, 32) in res and (topic, 2) in res, res
    assert [n for n, t in res if t == 4] == ["1"], res
    assert {t for _, t in res} <= {32, 4, 2}, res

    err, res = list_config_resources(b.addr, 1, [32])
    assert err == ERR_NONE and (group, 32) in res and {t for _, t in res} == {32}, res
    err, res = list_config_resources(b.addr, 1, [2, 16])
    assert err == ERR_NONE and (topic, 2) in res and {t for _, t in res} == {2}, res
    assert list_config_resources(b.addr, 1, [16, 8]) == (ERR_NONE, [])
    assert list_config_resources(b.addr, 1, [99])[0] == ERR_UNSUPPORTED_VERSION
    assert list_config_resources(b.addr, 0) == (ERR_NONE, [])

    # Deleting the last config takes the group off the list.
    alter_group(admin, group, [op("consumer.session.timeout.ms", None, AlterConfigOpType.DELETE)])
    err, res = list_config_resources(b.addr, 1, [32])
    assert err == ERR_NONE and (group, 32) not in res, res


def test_group_configs_survive_restart(broker_factory):
    """Group configs go through the metadata log: after a restart they are
    still described as set and a joining member gets the configured interval."""
    b = broker_factory(overrides=LIVE_OVERRIDES, name="group-configs-restart")
    group = unique_group("gc-restart")
    topic = helpers.unique_topic("gc-restart")
    create_topic(b.bootstrap, topic, 1)
    alter_group(ck_admin(b.bootstrap), group, [op("consumer.heartbeat.interval.ms", "900"),
                                                op("streams.num.standby.replicas", "1")])
    b.restart()
    configs = describe_group(ck_admin(b.bootstrap), group)
    assert (configs["consumer.heartbeat.interval.ms"].value, source(configs["consumer.heartbeat.interval.ms"])) == \
        ("900", GROUP)
    assert configs["streams.num.standby.replicas"].value == "1"
    assert (group, 32) in list_config_resources(b.addr, 1, [32])[1]
    conn = RawConn(b.addr)
    try:
        deadline = time.time() + 30
        while True:
            res = cg_heartbeat_v0(conn, group, "gc-after-restart", 0, 60000, [topic], {})
            if res[0] != 14 or time.time() > deadline:  # COORDINATOR_LOAD_IN_PROGRESS while replaying
                break
            time.sleep(0.3)
        assert res[0] == ERR_NONE and res[4] == 900, res
    finally:
        conn.close()


def test_min_insync_replicas_is_a_cluster_dynamic_default(gc_broker):
    """Kafka 4.1 formats a cluster with a cluster-level dynamic
    min.insync.replicas (ELR): this broker shows it as
    DYNAMIC_DEFAULT_BROKER_CONFIG (the cluster-default resource `""`, which
    librdkafka cannot address, is checked raw in test_configs.py)."""
    admin = ck_admin(gc_broker.bootstrap)
    dyn_default = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    (future,) = admin.describe_configs([ConfigResource(ResourceType.BROKER, "1")], request_timeout=15).values()
    misr = future.result(20)["min.insync.replicas"]
    assert (misr.value, source(misr)) == ("1", dyn_default), misr
    assert misr.is_read_only and not misr.is_default, misr  # gregor has no dynamic broker configs
