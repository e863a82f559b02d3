"""Config APIs: DescribeConfigs (32), AlterConfigs (33) and
IncrementalAlterConfigs (44) through confluent-kafka's AdminClient and
kafka-python's KafkaAdminClient; altered configs are enforced on the live
logs and survive a restart."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, ResourceType

import helpers
from clients import ck_admin, ck_consumer, ck_producer, create_topic

# Broker settings given explicitly to the module broker (besides the
# listeners and data dir every test broker gets): they must come back as
# STATIC_BROKER_CONFIG, and the topic configs they feed as well.
STATIC = {"log.retention.hours": 2, "num.partitions": 1, "log.cleanup.policy": "delete"}

DEFAULT = ConfigSource.DEFAULT_CONFIG.value
STATIC_BROKER = ConfigSource.STATIC_BROKER_CONFIG.value
DYNAMIC_TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value


@pytest.fixture(scope="module")
def cfg_broker():
    yield from helpers.serve_broker(STATIC, name="configs-broker")


def source(entry):
    s = entry.source
    return s.value if hasattr(s, "value") else int(s)


def describe(admin, restype, name, **kwargs):
    """{config name: ConfigEntry} of one resource."""
    fs = admin.describe_configs([ConfigResource(restype, name)], request_timeout=15, **kwargs)
    (future,) = fs.values()
    return future.result(20)


def describe_error(admin, restype, name):
    fs = admin.describe_configs([ConfigResource(restype, name)], request_timeout=15)
    (future,) = fs.values()
    with pytest.raises(KafkaException) as ei:
        future.result(20)
    return ei.value.args[0]


def incremental(admin, topic, entries, validate_only=False):
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    fs = admin.incremental_alter_configs([res], validate_only=validate_only, request_timeout=15)
    (future,) = fs.values()
    return future.result(20)


def op(name, value, kind):
    return ConfigEntry(name, value, incremental_operation=kind)


def test_describe_topic_values_sources_and_synonyms(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    topic = helpers.unique_topic("cfg-desc")
    create_topic(cfg_broker.bootstrap, topic, 1, config={"segment.bytes": "1048576", "cleanup.policy": "compact"})
    configs = describe(admin, ResourceType.TOPIC, topic)

    # Every topic config Kafka 4 knows is there.
    for name in ("retention.ms", "retention.bytes", "segment.ms", "max.message.bytes", "min.insync.replicas",
                 "compression.type", "message.timestamp.type", "min.cleanable.dirty.ratio", "flush.ms"):
        assert name in configs, "%s missing from DescribeConfigs: %s" % (name, sorted(configs))

    seg = configs["segment.bytes"]
    assert seg.value == "1048576" and source(seg) == DYNAMIC_TOPIC and not seg.is_default, seg
    assert not seg.is_read_only and not seg.is_sensitive
    assert source(configs["cleanup.policy"]) == DYNAMIC_TOPIC and configs["cleanup.policy"].value == "compact"

    # retention.ms comes from the broker's log.retention.hours=2 (server.properties / --override).
    ret = configs["retention.ms"]
    assert ret.value == str(2 * 3600 * 1000) and source(ret) == STATIC_BROKER and not ret.is_default, ret
    assert "log.retention.hours" in ret.synonyms, ret.synonyms
    syn = ret.synonyms["log.retention.hours"]
    assert syn.value in ("2", "168"), syn  # the static one and the built-in default share the name

    # Untouched: built-in default, with its broker synonym's default.
    mmb = configs["max.message.bytes"]
    assert mmb.value == "1048588" and source(mmb) == DEFAULT and mmb.is_default, mmb
    assert mmb.synonyms["message.max.bytes"].value == "1048588"
    assert source(mmb.synonyms["message.max.bytes"]) == DEFAULT
    assert configs["compression.type"].value == "producer" and configs["compression.type"].is_default


def test_describe_topic_with_key_filter_raw_v4(cfg_broker):
    """A raw DescribeConfigs v4 (flexible) with configuration_keys, synonyms and
    documentation: types and docs come back for exactly the keys asked."""
    topic = helpers.unique_topic("cfg-raw")
    create_topic(cfg_broker.bootstrap, topic, 1, config={"retention.ms": "60000"})
    body = (helpers.uvarint(2)  # one resource
            + helpers.i8(2) + helpers.compact_string(topic)
            + helpers.uvarint(3) + helpers.compact_string("retention.ms") + helpers.compact_string("cleanup.policy")
            + helpers.uvarint(0)  # resource tagged fields
            + helpers.i8(1) + helpers.i8(1)  # include_synonyms, include_documentation
            + helpers.uvarint(0))
    s = helpers.connect(cfg_broker.addr)
    try:
        r = helpers.roundtrip(s, 32, 4, body, correlation_id=5, flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()  # response header v1
    r.i32()  # throttle

    def synonym(rr):
        out = (rr.compact_string(), rr.compact_string(), rr.i8())
        rr.tagged_fields()
        return out

    def config(rr):
        out = dict(name=rr.compact_string(), value=rr.compact_string(), read_only=rr.i8(), source=rr.i8(),
                   sensitive=rr.i8(), synonyms=rr.compact_array(synonym), type=rr.i8(), doc=rr.compact_string())
        rr.tagged_fields()
        return out

    def result(rr):
        out = dict(error=rr.i16(), message=rr.compact_string(), type=rr.i8(), name=rr.compact_string(),
                   configs=rr.compact_array(config))
        rr.tagged_fields()
        return out

    (res,) = r.compact_array(result)
    assert res["error"] == 0 and res["name"] == topic, res
    got = {c["name"]: c for c in res["configs"]}
    assert sorted(got) == ["cleanup.policy", "retention.ms"], got
    ret = got["retention.ms"]
    assert ret["value"] == "60000" and ret["source"] == DYNAMIC_TOPIC and ret["type"] == 5, ret  # LONG
    assert ret["synonyms"][0] == ("retention.ms", "60000", DYNAMIC_TOPIC), ret["synonyms"]
    assert ("log.retention.hours", "2", STATIC_BROKER) in ret["synonyms"], ret["synonyms"]
    assert ret["doc"], ret
    pol = got["cleanup.policy"]
    assert pol["type"] == 7 and pol["value"] == "delete" and pol["source"] == STATIC_BROKER, pol  # LIST


def describe_raw_v1(addr, resources):
    """DescribeConfigs v1 (not flexible): [(type, name)] -> [(error, message, type, name, [config names])]."""
    body = helpers.array(resources, lambda r: helpers.i8(r[0]) + helpers.string(r[1]) + helpers.i32(-1))
    body += helpers.i8(0)  # include_synonyms
    s = helpers.connect(addr)
    try:
        r = helpers.roundtrip(s, 32, 1, body, correlation_id=3)
    finally:
        s.close()
    r.i32()  # throttle

    def config(rr):
        name = rr.string()
        rr.string(), rr.i8(), rr.i8(), rr.i8()  # value, read_only, source, sensitive
        rr.array(lambda x: (x.string(), x.string(), x.i8()))
        return name

    return r.array(lambda rr: (rr.i16(), rr.string(), rr.i8(), rr.string(), rr.array(config)))


def test_describe_errors_are_per_resource(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    err = describe_error(admin, ResourceType.TOPIC, helpers.unique_topic("cfg-missing"))
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    # librdkafka routes a BROKER resource to that broker, so a wrong id goes raw.
    results = describe_raw_v1(cfg_broker.addr, [(4, "7"), (4, "one"), (4, ""), (8, "1"), (2, "bad/name"),
                                                (2, "__consumer_offsets-nope"), (4, "1")])
    codes = [(r[0], r[3]) for r in results]
    assert codes[:6] == [(42, "7"), (42, "one"), (0, ""), (42, "1"), (17, "bad/name"),
                         (3, "__consumer_offsets-nope")], results  # INVALID_REQUEST, INVALID_TOPIC_EXCEPTION
    assert "expected 1" in results[0][1], results[0]
    # Kafka 4.1's only cluster-level dynamic default on a new cluster (ELR).
    assert results[2][4] == ["min.insync.replicas"], results[2]
    assert results[6][0] == 0 and "num.partitions" in results[6][4]


def test_describe_broker(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    configs = describe(admin, ResourceType.BROKER, "1")
    hours = configs["log.retention.hours"]
    assert hours.value == "2" and source(hours) == STATIC_BROKER and hours.is_read_only, hours
    parts = configs["num.partitions"]
    assert parts.value == "1" and source(parts) == STATIC_BROKER, parts
    auto = configs["auto.create.topics.enable"]
    assert auto.value == "true" and source(auto) == DEFAULT and auto.is_default and auto.is_read_only, auto
    assert configs["listeners"].value == "PLAINTEXT://127.0.0.1:%d" % cfg_broker.port
    assert source(configs["listeners"]) == STATIC_BROKER
    assert configs["message.max.bytes"].value == "1048588" and configs["message.max.bytes"].is_default
    assert all(c.is_read_only and not c.is_sensitive for c in configs.values())


def test_broker_configs_are_read_only(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    res = ConfigResource(ResourceType.BROKER, "1",
                         incremental_configs=[op("log.retention.hours", "5", AlterConfigOpType.SET)])
    (future,) = admin.incremental_alter_configs([res], request_timeout=15).values()
    with pytest.raises(KafkaException) as ei:
        future.result(20)
    assert ei.value.args[0].code() == KafkaError.INVALID_REQUEST, ei.value
    assert "read-only" in ei.value.args[0].str(), ei.value
    assert describe(admin, ResourceType.BROKER, "1")["log.retention.hours"].value == "2"


def test_incremental_set_delete_append_subtract(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    topic = helpers.unique_topic("cfg-inc")
    create_topic(cfg_broker.bootstrap, topic, 1, config={"flush.ms": "5000"})

    incremental(admin, topic, [op("retention.ms", "3600000", AlterConfigOpType.SET),
                               op("cleanup.policy", "compact", AlterConfigOpType.APPEND)])
    c = describe(admin, ResourceType.TOPIC, topic)
    assert c["retention.ms"].value == "3600000" and source(c["retention.ms"]) == DYNAMIC_TOPIC
    assert c["cleanup.policy"].value == "delete,compact", c["cleanup.policy"]
    assert c["flush.ms"].value == "5000", "a key not named by the request changed"

    incremental(admin, topic, [op("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT),
                               op("flush.ms", None, AlterConfigOpType.DELETE)])
    c = describe(admin, ResourceType.TOPIC, topic)
    assert c["cleanup.policy"].value == "compact", c["cleanup.policy"]
    assert c["flush.ms"].is_default and c["flush.ms"].value == "9223372036854775807", c["flush.ms"]
    assert c["retention.ms"].value == "3600000"

    # validate_only changes nothing.
    incremental(admin, topic, [op("retention.ms", "1000", AlterConfigOpType.SET)], validate_only=True)
    assert describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "3600000"

    # APPEND to a non-list key, bad values, unknown names: INVALID_CONFIG, nothing changes.
    for entries in ([op("retention.ms", "5", AlterConfigOpType.APPEND)],
                    [op("retention.ms", "soon", AlterConfigOpType.SET)],
                    [op("cleanup.policy", "shred", AlterConfigOpType.APPEND)],
                    [op("no.such.config", "1", AlterConfigOpType.SET)]):
        with pytest.raises(KafkaException) as ei:
            incremental(admin, topic, entries)
        assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG, (entries, ei.value)
    assert describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "3600000"

    with pytest.raises(KafkaException) as ei:
        incremental(admin, helpers.unique_topic("cfg-nope"), [op("retention.ms", "1", AlterConfigOpType.SET)])
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value


def test_duplicate_keys_are_an_invalid_request(cfg_broker):
    """librdkafka refuses duplicate keys itself, so this one goes raw (v1, flexible)."""
    topic = helpers.unique_topic("cfg-dup")
    create_topic(cfg_broker.bootstrap, topic, 1)

    def cfg(name, operation, value):
        return (helpers.compact_string(name) + helpers.i8(operation) + helpers.compact_string(value)
                + helpers.uvarint(0))

    body = (helpers.uvarint(2) + helpers.i8(2) + helpers.compact_string(topic)
            + helpers.uvarint(3) + cfg("retention.ms", 0, "1000") + cfg("retention.ms", 1, None)
            + helpers.uvarint(0)
            + helpers.i8(0) + helpers.uvarint(0))
    s = helpers.connect(cfg_broker.addr)
    try:
        r = helpers.roundtrip(s, 44, 1, body, correlation_id=9, flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()
    r.i32()
    (n,) = [r.uvarint() - 1]
    assert n == 1
    code, message = r.i16(), r.compact_string()
    assert code == 42, (code, message)  # INVALID_REQUEST
    assert "duplicate" in message, message


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_alter_configs_replaces_the_whole_set(cfg_broker):
    admin = ck_admin(cfg_broker.bootstrap)
    topic = helpers.unique_topic("cfg-alter")
    create_topic(cfg_broker.bootstrap, topic, 1, config={"retention.ms": "60000", "flush.ms": "1000"})
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"segment.ms": "3600000"})
    (future,) = admin.alter_configs([res], request_timeout=15).values()
    future.result(20)
    c = describe(admin, ResourceType.TOPIC, topic)
    assert c["segment.ms"].value == "3600000" and source(c["segment.ms"]) == DYNAMIC_TOPIC
    # Keys left out of AlterConfigs go back to their defaults (Kafka semantics).
    assert source(c["retention.ms"]) == STATIC_BROKER and c["retention.ms"].value == str(2 * 3600 * 1000)
    assert c["flush.ms"].is_default

    bad = ConfigResource(ResourceType.TOPIC, topic, set_config={"segment.ms": "0"})
    (future,) = admin.alter_configs([bad], request_timeout=15).values()
    with pytest.raises(KafkaException) as ei:
        future.result(20)
    assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG, ei.value
    assert describe(admin, ResourceType.TOPIC, topic)["segment.ms"].value == "3600000"


def test_kafka_python_describe_and_alter(cfg_broker):
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient
    topic = helpers.unique_topic("cfg-kp")
    create_topic(cfg_broker.bootstrap, topic, 1)
    a = KafkaAdminClient(bootstrap_servers=cfg_broker.bootstrap, request_timeout_ms=20000)
    try:
        resp = a.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                configs={"retention.ms": "7200001", "max.message.bytes": "4096"})])
        ((code, _msg, _rtype, name),) = [tuple(r) for r in resp.resources]
        assert code == 0 and name == topic, resp

        (resp,) = a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True)
        ((code, _msg, _rtype, name, entries),) = [tuple(r) for r in resp.resources]
        assert code == 0 and name == topic, resp
        by_name = {e[0]: e for e in entries}
        assert by_name["retention.ms"][1] == "7200001" and by_name["retention.ms"][3] == DYNAMIC_TOPIC
        assert by_name["max.message.bytes"][1] == "4096"
        assert by_name["segment.bytes"][3] == DEFAULT
        synonyms = [tuple(s) for s in by_name["retention.ms"][5]]
        assert synonyms[0] == ("retention.ms", "7200001", DYNAMIC_TOPIC), synonyms

        (resp,) = a.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1",
                                                      configs={"num.partitions": None})])
        ((code, _msg, _rtype, _name, entries),) = [tuple(r) for r in resp.resources]
        assert code == 0 and [e[0] for e in entries] == ["num.partitions"], entries
        assert entries[0][1] == "1" and entries[0][2] and entries[0][3] == STATIC_BROKER, entries[0]
    finally:
        a.close()


def produce_one(bootstrap, topic, value, timestamp=0, **extra):
    p = ck_producer(bootstrap, **dict({"linger.ms": 0, "message.max.bytes": 1000000}, **extra))
    out = []
    # Keyed, so compacted topics accept it too.
    p.produce(topic, key=b"k", value=value, partition=0, timestamp=timestamp,
              on_delivery=lambda err, msg: out.append(err))
    p.flush(20)
    assert out, "no delivery report"
    return out[0]


def test_altered_configs_are_enforced_at_runtime(broker_factory):
    """max.message.bytes lowered on a live topic refuses a larger batch at once;
    segment.bytes lowered makes the next appends roll, and retention.ms lowered
    deletes the old segments at the next retention pass."""
    b = broker_factory(overrides={"log.retention.check.interval.ms": 200}, name="cfg-enforce")
    admin = ck_admin(b.bootstrap)
    topic = helpers.unique_topic("cfg-live")
    create_topic(b.bootstrap, topic, 1)
    # Every record is an hour old, so retention.ms=60000 will expire them all.
    old = helpers.now_ms() - 3600 * 1000
    assert produce_one(b.bootstrap, topic, b"x" * 5000, timestamp=old) is None

    incremental(admin, topic, [op("max.message.bytes", "2000", AlterConfigOpType.SET)])
    err = produce_one(b.bootstrap, topic, b"y" * 5000, timestamp=old)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce_one(b.bootstrap, topic, b"small", timestamp=old) is None

    incremental(admin, topic, [op("segment.bytes", "1024", AlterConfigOpType.SET)])
    p = ck_producer(b.bootstrap, **{"linger.ms": 0})
    for i in range(20):
        p.produce(topic, value=b"r" * 400, partition=0, timestamp=old + i)
        p.flush(20)
    c = ck_consumer(b.bootstrap)
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    assert (low, high) == (0, 22), (low, high)

    incremental(admin, topic, [op("retention.ms", "60000", AlterConfigOpType.SET)])
    deadline = time.time() + 20
    while time.time() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        if low > 0:
            break
        time.sleep(0.2)
    c.close()
    assert low > 2, "retention.ms=60000 set at runtime deleted nothing (log start %d, end %d)" % (low, high)
    assert high == 22


def test_altered_configs_survive_restart(broker_factory):
    b = broker_factory(name="cfg-restart")
    admin = ck_admin(b.bootstrap)
    topic = helpers.unique_topic("cfg-restart")
    create_topic(b.bootstrap, topic, 1)
    incremental(admin, topic, [op("max.message.bytes", "2000", AlterConfigOpType.SET),
                               op("cleanup.policy", "compact", AlterConfigOpType.APPEND)])
    b.restart()
    admin = ck_admin(b.bootstrap)
    c = describe(admin, ResourceType.TOPIC, topic)
    assert c["max.message.bytes"].value == "2000" and source(c["max.message.bytes"]) == DYNAMIC_TOPIC
    assert c["cleanup.policy"].value == "delete,compact"
    err = produce_one(b.bootstrap, topic, b"z" * 5000, **{"message.timeout.ms": 20000})
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err


def create_topics_raw_v5(addr, topic, configs, validate_only):
    """CreateTopics v5 (flexible): -> (error, message, {name: (value, read_only, source, sensitive)})."""
    cfgs = b"".join(helpers.compact_string(k) + helpers.compact_string(v) + helpers.uvarint(0)
                    for k, v in configs.items())
    body = (helpers.uvarint(2) + helpers.compact_string(topic) + helpers.i32(1) + helpers.i16(1)
            + helpers.uvarint(1)  # no assignments
            + helpers.uvarint(len(configs) + 1) + cfgs + helpers.uvarint(0)
            + helpers.i32(10000) + helpers.i8(1 if validate_only else 0) + helpers.uvarint(0))
    s = helpers.connect(addr)
    try:
        r = helpers.roundtrip(s, 19, 5, body, correlation_id=4, flexible_header=True)
    finally:
        s.close()
    r.tagged_fields()
    r.i32()  # throttle

    def config(rr):
        out = (rr.compact_string(), (rr.compact_string(), rr.i8(), rr.i8(), rr.i8()))
        rr.tagged_fields()
        return out

    def result(rr):
        name, err, msg = rr.compact_string(), rr.i16(), rr.compact_string()
        rr.i32(), rr.i16()  # partitions, replication factor
        cfg = dict(rr.compact_array(config) or [])
        rr.tagged_fields()
        return name, err, msg, cfg

    (res,) = r.compact_array(result)
    assert res[0] == topic, res
    return res[1:]


def test_create_topics_reports_the_same_configs(cfg_broker):
    """CreateTopics v5+ returns each config with its source: the same values
    DescribeConfigs gives for the topic once created."""
    topic = helpers.unique_topic("cfg-create")
    err, msg, configs = create_topics_raw_v5(cfg_broker.addr, topic, {"retention.ms": "1234"}, validate_only=True)
    assert err == 0, msg
    assert configs["retention.ms"] == ("1234", 0, DYNAMIC_TOPIC, 0), configs["retention.ms"]
    err, msg, created = create_topics_raw_v5(cfg_broker.addr, topic, {"retention.ms": "1234"}, validate_only=False)
    assert err == 0 and created == configs, msg
    described = describe(ck_admin(cfg_broker.bootstrap), ResourceType.TOPIC, topic)
    assert sorted(described) == sorted(configs)
    for name, (value, _ro, src, _sens) in configs.items():
        assert (value, src) == (described[name].value, source(described[name])), name
    assert configs["segment.bytes"][2] == DEFAULT and configs["cleanup.policy"][2] == STATIC_BROKER
