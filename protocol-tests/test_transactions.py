"""Transactions with confluent-kafka (librdkafka): the transaction coordinator
(`__transaction_state`), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit, COMMIT/ABORT markers, the last stable offset, and Fetch with
read_committed (aborted transactions skipped, control records never delivered)."""

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

import helpers
from clients import create_topic
from helpers import summary


def txn_producer(bootstrap, tid, **extra):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5,
            "transaction.timeout.ms": 60000}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(30)
    return p


def read_values(bootstrap, topic, partitions, isolation, expect, timeout=30):
    """Every value in the topic from the beginning, per partition in order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "txn-reader-" + uuid.uuid4().hex[:6],
                  "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    try:
        while len(out) < expect and time.time() < deadline:
            for m in c.consume(1000, 0.3):
                assert m.error() is None, m.error()
                out.append((m.partition(), m.value()))
        for m in c.consume(1000, 1.0):  # anything more would be wrong
            if m.error() is None:
                out.append((m.partition(), m.value()))
    finally:
        c.close()
    return out


def test_commit_and_abort_across_partitions(broker_factory):
    b = broker_factory(name="txn-basic")
    topic = helpers.unique_topic("txn")
    create_topic(b.bootstrap, topic, 3)
    p = txn_producer(b.bootstrap, "txn-basic-" + uuid.uuid4().hex[:6])
    sent = {}
    for name, commit in (("t1", True), ("t2", False), ("t3", True)):
        p.begin_transaction()
        for i in range(30):
            p.produce(topic, value=b"%s-%d" % (name.encode(), i), partition=i % 3)
        p.flush(10)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
        sent[name] = commit
    committed = read_values(b.bootstrap, topic, 3, "read_committed", 60)
    everything = read_values(b.bootstrap, topic, 3, "read_uncommitted", 90)
    by_txn = lambda vals: {n: sum(1 for _, v in vals if v.startswith(n.encode() + b"-")) for n in sent}
    summary("transactions/basic: read_committed %r, read_uncommitted %r (3 partitions, t2 aborted)"
            % (by_txn(committed), by_txn(everything)))
    assert by_txn(committed) == {"t1": 30, "t2": 0, "t3": 30}
    assert by_txn(everything) == {"t1": 30, "t2": 30, "t3": 30}
    assert len(committed) == 60 and len(everything) == 90, "control records must never reach the application"
    # Per partition, committed values come in produce order.
    for part in range(3):
        vals = [v for pp, v in committed if pp == part]
        assert vals == [b"t1-%d" % i for i in range(30) if i % 3 == part] + \
            [b"t3-%d" % i for i in range(30) if i % 3 == part], vals


def test_second_producer_fences_the_first(broker_factory):
    b = broker_factory(name="txn-fence")
    topic = helpers.unique_topic("txn-fence")
    create_topic(b.bootstrap, topic, 1)
    tid = "txn-fence-" + uuid.uuid4().hex[:6]
    a = txn_producer(b.bootstrap, tid)
    a.begin_transaction()
    a.produce(topic, value=b"zombie-1", partition=0)
    a.flush(10)
    bb = txn_producer(b.bootstrap, tid)  # fences a and aborts its open transaction
    bb.begin_transaction()
    bb.produce(topic, value=b"new-1", partition=0)
    bb.commit_transaction(30)
    fenced = None
    try:
        a.produce(topic, value=b"zombie-2", partition=0)
        a.flush(10)
        a.commit_transaction(10)
    except KafkaException as e:
        fenced = e.args[0]
    committed = read_values(b.bootstrap, topic, 1, "read_committed", 1)
    summary("transactions/fence: old producer got %r; read_committed sees %r" % (fenced, committed))
    assert fenced is not None and fenced.fatal(), "the fenced producer must fail fatally: %r" % fenced
    assert [v for _, v in committed] == [b"new-1"]


def test_hung_transaction_aborted_after_timeout(broker_factory):
    b = broker_factory(name="txn-timeout")
    topic = helpers.unique_topic("txn-hung")
    create_topic(b.bootstrap, topic, 1)
    hung = txn_producer(b.bootstrap, "txn-hung-" + uuid.uuid4().hex[:6], **{"transaction.timeout.ms": 3000})
    hung.begin_transaction()
    hung.produce(topic, value=b"hung", partition=0)
    hung.flush(10)
    t0 = time.time()
    plain = Producer({"bootstrap.servers": b.bootstrap})
    plain.produce(topic, value=b"after", partition=0)
    plain.flush(10)
    # read_committed cannot pass the hung transaction until the coordinator aborts it.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "hung-reader", "isolation.level": "read_committed",
                  "enable.partition.eof": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got, t_seen = [], None
    deadline = time.time() + 20
    while not got and time.time() < deadline:
        for m in c.consume(10, 0.2):
            if m.error() is None:
                got.append(m.value())
                t_seen = time.time() - t0
    c.close()
    err = None
    try:
        hung.commit_transaction(10)
    except KafkaException as e:
        err = e.args[0]
    summary("transactions/timeout: read_committed saw %r %.1fs after the hung transaction began "
            "(transaction.timeout.ms=3000); its late commit got %r" % (got, t_seen or -1, err))
    assert got == [b"after"], got
    assert t_seen is not None and t_seen >= 2.5, "LSO advanced before the timeout: %.1fs" % t_seen
    assert err is not None, "committing an aborted transaction must fail"


def test_consume_transform_produce_exactly_once_across_kill9(broker_factory):
    b = broker_factory(overrides={"group.initial.rebalance.delay.ms": 0}, name="txn-eos")
    src, dst = helpers.unique_topic("eos-in"), helpers.unique_topic("eos-out")
    create_topic(b.bootstrap, src, 2)
    create_topic(b.bootstrap, dst, 2)
    n = 3000
    plain = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(n):
        plain.produce(src, value=b"%d" % i, partition=i % 2)
    plain.flush(30)
    group = "eos-" + uuid.uuid4().hex[:6]
    tid = "eos-app-" + uuid.uuid4().hex[:6]

    def make_app():
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "isolation.level": "read_committed",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "enable.partition.eof": False, "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
        cons.subscribe([src])
        prod = txn_producer(b.bootstrap, tid, **{"transaction.timeout.ms": 10000})
        return cons, prod

    cons, prod = make_app()
    done, restarts, killed = 0, 0, False
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            msgs = [m for m in cons.consume(200, 0.5) if m.error() is None]
            if not msgs:
                if done >= n:
                    break
                continue
            prod.begin_transaction()
            for m in msgs:
                prod.produce(dst, value=b"out-" + m.value(), partition=m.partition())
            prod.send_offsets_to_transaction(cons.position(cons.assignment()), cons.consumer_group_metadata(), 30)
            if not killed and done > n // 3:
                b.kill9()  # mid-transaction: produced, offsets sent, not committed
                killed = True
                b.start()
                # The application restarts with the broker (librdkafka 2.16's
                # send_offsets_to_transaction can stall after its only broker
                # was re-bootstrapped); its new incarnation fences the old one,
                # whose open transaction is aborted.
                raise KafkaException("application restart after the broker's kill -9")
            prod.commit_transaction(30)
            done += len(msgs)
        except KafkaException as e:
            # Whatever failed, start over from the committed offsets with a new incarnation.
            restarts += 1
            try:
                cons.close()
            except Exception:
                pass
            cons, prod = make_app()
            done = committed_count(b.bootstrap, group, src)
            _ = e
    cons.close()
    out = read_values(b.bootstrap, dst, 2, "read_committed", n)
    values = sorted(int(v.split(b"-")[1]) for _, v in out)
    dups = len(values) - len(set(values))
    summary("transactions/eos: %d input records -> %d committed outputs, %d duplicates, broker killed -9 "
            "mid-transaction, %d app restarts" % (n, len(values), dups, restarts))
    assert killed
    assert dups == 0, "%d duplicates in the output" % dups
    assert set(values) == set(range(n)), "missing %d outputs" % len(set(range(n)) - set(values))


def committed_count(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offs = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=20)
    finally:
        c.close()
    return sum(max(o.offset, 0) for o in offs)


def _flex_call(addr, api_key, body):
    with helpers.connect(addr) as s:
        r = helpers.roundtrip(s, api_key, 0, body, flexible_header=True)
    r.tagged_fields()
    return r


def _carr(items, enc):
    return helpers.uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


def test_admin_describe_and_list_transactions_and_producers(broker_factory):
    """DescribeTransactions, ListTransactions and DescribeProducers (v0, flexible)
    on an open transaction, then after it commits."""
    b = broker_factory(name="txn-admin")
    topic = helpers.unique_topic("txn-admin")
    create_topic(b.bootstrap, topic, 2)
    tid = "txn-admin-" + uuid.uuid4().hex[:6]
    p = txn_producer(b.bootstrap, tid, **{"transaction.timeout.ms": 45000})
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=1)
    p.flush(10)
    tags = helpers.uvarint(0)

    def list_txns(states=()):
        r = _flex_call(b.addr, 66, _carr(list(states), helpers.compact_string) + _carr([], helpers.i64) + tags)
        r.i32()
        err = r.i16()
        unknown = r.compact_array(lambda rr: rr.compact_string())
        rows = r.compact_array(lambda rr: (rr.compact_string(), rr.i64(), rr.compact_string(), rr.tagged_fields()))
        return err, unknown, {t: (pid, st) for t, pid, st, _ in rows}

    def describe_txn():
        r = _flex_call(b.addr, 65, _carr([tid], helpers.compact_string) + tags)
        r.i32()

        def state(rr):
            out = dict(error=rr.i16(), tid=rr.compact_string(), state=rr.compact_string(), timeout=rr.i32(),
                       start=rr.i64(), pid=rr.i64(), epoch=rr.i16())
            out["topics"] = rr.compact_array(lambda t: (t.compact_string(), t.compact_array(lambda x: x.i32()),
                                                         t.tagged_fields()))
            rr.tagged_fields()
            return out
        return r.compact_array(state)[0]

    open_list = list_txns()
    ongoing_only = list_txns(["Ongoing", "Bogus"])
    open_desc = describe_txn()
    # DescribeProducers: decode by hand (nested compact arrays).
    body = _carr([topic], lambda t: helpers.compact_string(t) + _carr([0, 1], helpers.i32) + tags) + tags
    r = _flex_call(b.addr, 61, body)
    r.i32()

    def producer(rr):
        v = dict(pid=rr.i64(), epoch=rr.i32(), last_seq=rr.i32(), last_ts=rr.i64(), coord_epoch=rr.i32(),
                 txn_start=rr.i64())
        rr.tagged_fields()
        return v

    def part(rr):
        v = dict(index=rr.i32(), error=rr.i16(), message=rr.compact_string(), producers=rr.compact_array(producer))
        rr.tagged_fields()
        return v

    def top(rr):
        v = (rr.compact_string(), rr.compact_array(part))
        rr.tagged_fields()
        return v
    producers = {pp["index"]: pp for _, parts in r.compact_array(top) for pp in parts}
    p.commit_transaction(30)
    done_desc = describe_txn()
    summary("transactions/admin: list %r; filter Ongoing+Bogus %r; describe open %r; producers p1 %r; after "
            "commit %s" % (open_list[2].get(tid), ongoing_only[:2], {k: open_desc[k] for k in ("state", "pid",
                           "epoch", "timeout", "topics")}, producers[1]["producers"], done_desc["state"]))
    assert open_list[0] == 0 and open_list[2][tid][1] == "Ongoing"
    assert ongoing_only[1] == ["Bogus"] and tid in ongoing_only[2]
    assert open_desc["error"] == 0 and open_desc["state"] == "Ongoing" and open_desc["timeout"] == 45000
    assert [(t, parts) for t, parts, _ in open_desc["topics"]] == [(topic, [1])]
    assert producers[0]["producers"] == [] and len(producers[1]["producers"]) == 1
    prod = producers[1]["producers"][0]
    assert prod["pid"] == open_desc["pid"] and prod["txn_start"] == 0 and prod["epoch"] == open_desc["epoch"]
    assert done_desc["state"] == "CompleteCommit" and done_desc["topics"] == []


def _txn_state_records(broker, tid):
    """Decoded `__transaction_state` records of `tid` from the segment files, decoded
    with Kafka's TransactionLogKey v0 / TransactionLogValue v0 layouts."""
    import os
    from test_groups import offsets_partition_for
    d = os.path.join(broker.data_dir, "__transaction_state-%d" % offsets_partition_for(tid))
    out = []
    for name in sorted(f for f in os.listdir(d) if f.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        for batch in helpers.parse_batches(data, allow_partial_tail=True):
            assert batch.crc_ok
            for rec in helpers.batch_records(batch):
                k = helpers.Reader(rec.key)
                assert k.i16() == 0, "TransactionLogKey version"
                if k.string() != tid:
                    continue
                v = helpers.Reader(rec.value)
                assert v.i16() == 0, "TransactionLogValue version written without transaction.version"
                pid, epoch, timeout, status = v.i64(), v.i16(), v.i32(), v.i8()
                parts = v.array(lambda r: (r.string(), r.array(lambda rr: rr.i32())))
                last_update, start = v.i64(), v.i64()
                out.append(dict(pid=pid, epoch=epoch, timeout=timeout, status=status, partitions=parts,
                                last_update=last_update, start=start))
    return out


def test_transactional_offsets_visible_on_commit_and_state_records(broker_factory):
    b = broker_factory(overrides={"group.initial.rebalance.delay.ms": 0}, name="txn-offsets")
    topic = helpers.unique_topic("txn-offs")
    create_topic(b.bootstrap, topic, 1)
    group = "txn-offs-" + uuid.uuid4().hex[:6]
    tid = "txn-offs-" + uuid.uuid4().hex[:6]
    # read_uncommitted: OffsetFetch without require_stable answers at once.
    cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                     "isolation.level": "read_uncommitted"})
    stable = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                       "isolation.level": "read_committed"})
    p = txn_producer(b.bootstrap, tid, **{"transaction.timeout.ms": 30000})

    def committed(c=cons, timeout=10):
        return c.committed([TopicPartition(topic, 0)], timeout=timeout)[0].offset

    try:
        p.begin_transaction()
        p.produce(topic, value=b"x", partition=0)
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 42)], cons.consumer_group_metadata(), 30)
        during = committed()
        # read_committed asks require_stable: UNSTABLE_OFFSET_COMMIT, retried until the end.
        unstable = None
        try:
            committed(stable, timeout=3)
        except KafkaException as e:
            unstable = e.args[0]
        p.commit_transaction(30)
        after_stable = committed(stable)
        after = committed()
        p.begin_transaction()
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 99)], cons.consumer_group_metadata(), 30)
        p.abort_transaction(30)
        after_abort = committed()
    finally:
        cons.close()
        stable.close()
    records = _txn_state_records(b, tid)
    statuses = [r["status"] for r in records]
    summary("transactions/offsets: committed offset during the transaction %d, after commit %d, after an "
            "aborted one %d; __transaction_state statuses %r" % (during, after, after_abort, statuses))
    assert during < 0, "an open transaction's offset is not visible: %d" % during
    assert unstable is not None, "require_stable must not return while the commit is pending"
    assert after == 42 and after_stable == 42 and after_abort == 42
    # Empty(0) after init, Ongoing(1) (once per partition added), PrepareCommit(2), CompleteCommit(4),
    # Ongoing, PrepareAbort(3), CompleteAbort(5).
    collapsed = [st for i, st in enumerate(statuses) if i == 0 or statuses[i - 1] != st]
    assert collapsed == [0, 1, 2, 4, 1, 3, 5], statuses
    assert records[1]["partitions"] is not None and records[0]["partitions"] is None
    assert all(r["timeout"] == 30000 for r in records)
