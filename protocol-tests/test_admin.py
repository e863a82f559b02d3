"""Admin APIs: CreateTopics / DeleteTopics / Metadata / DescribeCluster /
via confluent AdminClient and kafka-python KafkaAdminClient,
plus broker-side topic auto-creation settings."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

import helpers
from clients import ck_admin, ck_producer, create_topic, topic_partitions


def wait_for(pred, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def test_confluent_create_describe_duplicate_delete(broker):
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("adm-ck")
    fs = admin.create_topics([NewTopic(topic, num_partitions=5, replication_factor=1,
                                       config={"retention.ms": "123456789", "cleanup.policy": "delete"})],
                             operation_timeout=20)
    assert fs[topic].result(30) is None
    assert wait_for(lambda: topic_partitions(broker.bootstrap, topic) == 5), \
        "created topic with 5 partitions, metadata shows %r" % topic_partitions(broker.bootstrap, topic)
    md = admin.list_topics(timeout=10)
    t = md.topics[topic]
    assert sorted(t.partitions) == [0, 1, 2, 3, 4]
    for p in t.partitions.values():
        assert p.leader == md.brokers[p.leader].id, "partition %d leader %d not a known broker" % (p.id, p.leader)
        assert p.replicas == [p.leader] and p.isrs == [p.leader], (p.replicas, p.isrs)

    # Duplicate -> TOPIC_ALREADY_EXISTS (36).
    fs = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)], operation_timeout=20)
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(30)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, ei.value.args[0]
    assert topic_partitions(broker.bootstrap, topic) == 5, "duplicate create changed the partition count"

    # Delete, then it is gone from the topic list.
    assert admin.delete_topics([topic], operation_timeout=20)[topic].result(30) is None
    assert wait_for(lambda: topic not in admin.list_topics(timeout=10).topics), "deleted topic still listed"

    # Deleting again -> UNKNOWN_TOPIC_OR_PARTITION (3).
    with pytest.raises(KafkaException) as ei:
        admin.delete_topics([topic], operation_timeout=20)[topic].result(30)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, ei.value.args[0]

    # The name can be reused, as a new topic (new id, no old data).
    create_topic(broker.bootstrap, topic, 1)
    assert topic_partitions(broker.bootstrap, topic) == 1


def test_create_topic_configs_enforced(broker):
    """Topic configs given to CreateTopics take effect on the topic's log:
    max.message.bytes refuses a larger batch (MESSAGE_TOO_LARGE) and
    message.timestamp.type=LogAppendTime stamps records with the broker's clock.
    (test_configs.py reads them back through DescribeConfigs.)"""
    topic = helpers.unique_topic("adm-cfg")
    create_topic(broker.bootstrap, topic, 1, config={"max.message.bytes": "2000",
                                                     "message.timestamp.type": "LogAppendTime",
                                                     "retention.ms": "123456789"})
    p = ck_producer(broker.bootstrap, **{"linger.ms": 0, "message.max.bytes": 1000000})
    results = {}

    def report(err, msg):
        results[msg.value()[:5]] = err

    p.produce(topic, value=b"large" + b"x" * 5000, partition=0, on_delivery=report)
    p.flush(20)
    before = helpers.now_ms()
    p.produce(topic, value=b"small", partition=0, timestamp=1000, on_delivery=report)
    p.flush(20)
    assert results[b"large"] is not None and results[b"large"].code() == KafkaError.MSG_SIZE_TOO_LARGE, results
    assert results[b"small"] is None, results
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, TopicPartition
    from clients import ck_consumer
    c = ck_consumer(broker.bootstrap)
    c.assign([TopicPartition(topic, 0, 0)])
    msg = None
    deadline = time.time() + 20
    while msg is None and time.time() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            msg = m
    c.close()
    assert msg is not None and msg.value() == b"small"
    ts_type, ts = msg.timestamp()
    assert ts_type == TIMESTAMP_LOG_APPEND_TIME, msg.timestamp()
    assert ts >= before - 1000, "LogAppendTime %d is not the broker's clock (produced with 1000)" % ts

    # A config the broker doesn't know is refused as Kafka refuses it.
    admin = ck_admin(broker.bootstrap)
    bad = helpers.unique_topic("adm-cfg-bad")
    fs = admin.create_topics([NewTopic(bad, 1, 1, config={"no.such.config": "1"})], operation_timeout=20)
    with pytest.raises(KafkaException) as ei:
        fs[bad].result(30)
    assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG, ei.value


def test_validate_only_creates_nothing(broker):
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("adm-validate")
    fs = admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], validate_only=True,
                             operation_timeout=20)
    assert fs[topic].result(30) is None
    time.sleep(0.5)
    assert topic not in admin.list_topics(timeout=10).topics, "validate_only=True created the topic"
    # Raw metadata (no auto-create) agrees.
    md = helpers.metadata_v4(broker.addr, [topic], allow_auto_topic_creation=False)
    assert md.topics[topic].error_code == helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, md.topics[topic]


def test_create_invalid_partitions(broker):
    admin = ck_admin(broker.bootstrap)
    topic = helpers.unique_topic("adm-badparts")
    try:
        fs = admin.create_topics([NewTopic(topic, num_partitions=0, replication_factor=1)], operation_timeout=20)
    except (ValueError, KafkaException):
        pytest.skip("client rejects num_partitions=0 locally")
    with pytest.raises(KafkaException) as ei:
        fs[topic].result(30)
    assert ei.value.args[0].code() == KafkaError.INVALID_PARTITIONS, ei.value.args[0]
    assert topic not in admin.list_topics(timeout=10).topics


def test_kafka_python_admin(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic
    from kafka.errors import TopicAlreadyExistsError
    topic = helpers.unique_topic("adm-kp")
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000)
    try:
        a.create_topics([KNewTopic(topic, num_partitions=2, replication_factor=1,
                                   topic_configs={"retention.ms": "3600000"})])
        assert wait_for(lambda: topic in a.list_topics()), "kafka-python: created topic not listed"
        assert topic_partitions(broker.bootstrap, topic) == 2
        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([KNewTopic(topic, num_partitions=2, replication_factor=1)])
        desc = a.describe_topics([topic])
        assert len(desc) == 1 and desc[0]["topic"] == topic and desc[0]["error_code"] == 0, desc
        assert sorted(p["partition"] for p in desc[0]["partitions"]) == [0, 1], desc
        cluster = a.describe_cluster()
        assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [("127.0.0.1", broker.port)], cluster
        a.delete_topics([topic])
        assert wait_for(lambda: topic not in a.list_topics()), "kafka-python: deleted topic still listed"
    finally:
        a.close()


def test_describe_cluster(broker):
    admin = ck_admin(broker.bootstrap)
    res = admin.describe_cluster(request_timeout=10).result(15)
    nodes = [(n.host, n.port) for n in res.nodes]
    assert nodes == [("127.0.0.1", broker.port)], "describe_cluster nodes %r" % nodes
    assert res.controller is not None and res.controller.id == res.nodes[0].id, res.controller
    assert res.cluster_id, "empty cluster id"
    md = helpers.metadata_v4(broker.addr, [], allow_auto_topic_creation=False)
    assert md.cluster_id == res.cluster_id, (md.cluster_id, res.cluster_id)
    assert [(b[1], b[2]) for b in md.brokers] == [("127.0.0.1", broker.port)], md.brokers
    assert md.controller_id == res.nodes[0].id


def test_auto_create_uses_num_partitions(broker_factory):
    b = broker_factory(overrides={"num.partitions": "4", "auto.create.topics.enable": "true"})
    topic = helpers.unique_topic("auto4")
    p = ck_producer(b.bootstrap)
    errs = []
    p.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, msg: errs.append(err))
    assert p.flush(30) == 0
    assert errs == [None], "produce to an auto-created topic failed: %r" % errs
    assert topic_partitions(b.bootstrap, topic) == 4, \
        "auto-created topic has %r partitions, num.partitions=4" % topic_partitions(b.bootstrap, topic)
    # Raw metadata with allow_auto_topic_creation=true also creates with 4 partitions.
    topic2 = helpers.unique_topic("auto4raw")
    md = helpers.metadata_v4(b.addr, [topic2], allow_auto_topic_creation=True)
    t = md.topics[topic2]
    assert t.error_code in (0, 5), t  # 5 = LEADER_NOT_AVAILABLE while being created is also Kafka behaviour
    assert wait_for(lambda: topic_partitions(b.bootstrap, topic2) == 4), topic_partitions(b.bootstrap, topic2)


def test_auto_create_disabled(broker_factory):
    b = broker_factory(overrides={"auto.create.topics.enable": "false"})
    topic = helpers.unique_topic("noauto")
    md = helpers.metadata_v4(b.addr, [topic], allow_auto_topic_creation=True)
    assert md.topics[topic].error_code == helpers.ERR_UNKNOWN_TOPIC_OR_PARTITION, md.topics[topic]
    p = ck_producer(b.bootstrap, **{"message.timeout.ms": 5000, "topic.metadata.propagation.max.ms": 1000})
    errs = []
    p.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, msg: errs.append(err))
    p.flush(20)
    assert len(errs) == 1 and errs[0] is not None, "producing to an unknown topic with auto-create off: %r" % errs
    assert errs[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
                              KafkaError._MSG_TIMED_OUT), errs[0]
    assert topic not in ck_admin(b.bootstrap).list_topics(timeout=10).topics
    # Explicit creation still works.
    create_topic(b.bootstrap, topic, 2)
    assert topic_partitions(b.bootstrap, topic) == 2
