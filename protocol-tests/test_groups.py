"""Consumer groups, classic protocol: FindCoordinator, JoinGroup, SyncGroup,
Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
DeleteGroups and OffsetDelete, driven by confluent-kafka, kafka-python,
aiokafka and raw requests; committed offsets in `__consumer_offsets`
(Kafka's record schemas, replayed on restart)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict, namedtuple

import pytest
from confluent_kafka import (ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException,
                             TopicPartition)

import helpers
from clients import ck_admin, ck_consumer, ck_producer, create_topic
from conftest import GROUP_OVERRIDES
from helpers import Reader, array, i8, i16, i32, i64, string, summary, uvarint, compact_string

# API keys and error codes used below.
API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_OFFSET_DELETE = 47

ERR_NONE = 0
ERR_COORDINATOR_LOAD_IN_PROGRESS = 14
ERR_COORDINATOR_NOT_AVAILABLE = 15
ERR_ILLEGAL_GENERATION = 22
ERR_UNKNOWN_MEMBER_ID = 25
ERR_REBALANCE_IN_PROGRESS = 27
ERR_NON_EMPTY_GROUP = 68
ERR_GROUP_ID_NOT_FOUND = 69
ERR_MEMBER_ID_REQUIRED = 79
ERR_FENCED_INSTANCE_ID = 82
ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86

OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_PARTITIONS = 50


def unique_group(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def wait_for(pred, timeout, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


# ---------------------------------------------------------------------------
# Producing keyed messages, reading group offsets.
# ---------------------------------------------------------------------------

def produce_keyed(bootstrap, topic, n, tag, start=0):
    """n keyed messages (partition chosen by the client's key hash);
    returns {(partition, offset): (key, value)} from the delivery reports."""
    p = ck_producer(bootstrap)
    delivered = {}
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    for i in range(start, start + n):
        key = b"%s-key-%d" % (tag.encode(), i)
        value = b"%s-value-%d-" % (tag.encode(), i) + b"x" * (i % 50)
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0, "producer: messages still queued after 60s"
    assert not errors, "producer: %d delivery errors, first %r" % (len(errors), errors[:3])
    assert len(delivered) == n, "producer: %d acks for %d messages" % (len(delivered), n)
    return delivered


def end_offsets(bootstrap, topic, partitions):
    c = ck_consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)}
    finally:
        c.close()


def committed_offsets(bootstrap, group, topic, partitions, with_metadata=False):
    """OffsetFetch through a confluent consumer that never joins the group:
    {partition: offset} (negative = none), or {p: (offset, metadata)}."""
    c = ck_consumer(bootstrap, **{"group.id": group})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=15)
    finally:
        c.close()
    out = {}
    for tp in res:
        assert tp.error is None, "OffsetFetch %s %s-%d: %s" % (group, topic, tp.partition, tp.error)
        out[tp.partition] = (tp.offset, tp.metadata) if with_metadata else tp.offset
    return out


def describe_group(bootstrap, group):
    admin = ck_admin(bootstrap)
    return admin.describe_consumer_groups([group], request_timeout=15)[group].result(20)


# ---------------------------------------------------------------------------
# Raw group requests (non-flexible versions).
# ---------------------------------------------------------------------------

def bytes_(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def subscription_v0(topics):
    """ConsumerProtocolSubscription v0."""
    return i16(0) + array(topics, string) + bytes_(None)


def assignment_v0(parts):
    """ConsumerProtocolAssignment v0; parts = {topic: [partitions]}."""
    return i16(0) + array(sorted(parts.items()), lambda kv: string(kv[0]) + array(kv[1], i32)) + bytes_(None)


class RawConn:
    """One raw connection with its own correlation ids."""

    def __init__(self, addr, timeout=40.0):
        self.sock = helpers.connect(addr, timeout)
        self.corr = 100

    def call(self, api, version, body, flexible=False):
        self.corr += 1
        r = helpers.roundtrip(self.sock, api, version, body, self.corr, flexible_header=flexible)
        if flexible:
            r.tagged_fields()  # response header v1
        return r

    def close(self):
        self.sock.close()


def find_coordinator(conn, group, timeout=20.0):
    """FindCoordinator v1, retried while the coordinator is loading / not yet available."""
    deadline = time.time() + timeout
    while True:
        r = conn.call(API_FIND_COORDINATOR, 1, string(group) + i8(0))
        r.i32()
        err, msg, node, host, port = r.i16(), r.string(), r.i32(), r.string(), r.i32()
        if err in (ERR_COORDINATOR_NOT_AVAILABLE, ERR_COORDINATOR_LOAD_IN_PROGRESS) and time.time() < deadline:
            time.sleep(0.2)
            continue
        return err, msg, node, host, port


JoinResult = namedtuple("JoinResult", "error generation protocol leader member_id members")


def join_v5(conn, group, member_id, instance_id, protocols, session_ms=10000, rebalance_ms=30000):
    body = (string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id) + string(instance_id)
            + string("consumer") + array(protocols, lambda p: string(p[0]) + bytes_(p[1])))
    r = conn.call(API_JOIN_GROUP, 5, body)
    r.i32()
    err, gen, proto, leader, mid = r.i16(), r.i32(), r.string(), r.string(), r.string()
    members = r.array(lambda rr: (rr.string(), rr.string(), rr.bytes_()))
    return JoinResult(err, gen, proto, leader, mid, members)


def sync_v3(conn, group, generation, member_id, instance_id, assignments=()):
    body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
            + array(list(assignments), lambda a: string(a[0]) + bytes_(a[1])))
    r = conn.call(API_SYNC_GROUP, 3, body)
    r.i32()
    return r.i16(), r.bytes_()


def heartbeat_v3(conn, group, generation, member_id, instance_id=None):
    r = conn.call(API_HEARTBEAT, 3, string(group) + i32(generation) + string(member_id) + string(instance_id))
    r.i32()
    return r.i16()


def leave_v3(conn, group, members):
    """members = [(member_id, instance_id)] -> (error, [(member_id, instance_id, error)])."""
    r = conn.call(API_LEAVE_GROUP, 3, string(group) + array(members, lambda m: string(m[0]) + string(m[1])))
    r.i32()
    err = r.i16()
    return err, r.array(lambda rr: (rr.string(), rr.string(), rr.i16()))


def describe_groups_v4(conn, groups):
    """DescribeGroups v4 -> {group: (error, state, protocol_type, protocol, [(member_id, instance_id, client_id)])}."""
    r = conn.call(API_DESCRIBE_GROUPS, 4, array(groups, string) + i8(0))
    r.i32()
    out = {}
    for _ in range(r.i32()):
        err, gid, state, ptype, proto = r.i16(), r.string(), r.string(), r.string(), r.string()
        members = r.array(lambda rr: (rr.string(), rr.string(), rr.string(), rr.string(), rr.bytes_(),
                                      rr.bytes_()))
        r.i32()  # authorized operations
        out[gid] = (err, state, ptype, proto, [(m[0], m[1], m[2]) for m in members])
    return out


def offset_commit_v2(conn, group, topic, offsets, retention_ms=-1, generation=-1, member_id=""):
    """OffsetCommit v2 (has retention_time_ms); offsets = {partition: (offset, metadata)} -> {partition: error}."""
    parts = sorted(offsets.items())
    body = (string(group) + i32(generation) + string(member_id) + i64(retention_ms) + i32(1) + string(topic)
            + array(parts, lambda kv: i32(kv[0]) + i64(kv[1][0]) + string(kv[1][1])))
    r = conn.call(API_OFFSET_COMMIT, 2, body)
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err = r.i32(), r.i16()
            out[p] = err
    return out


def offset_delete_v0(conn, group, topic, partitions):
    """OffsetDelete v0 -> (error, {partition: error})."""
    body = string(group) + i32(1) + string(topic) + array(partitions, i32)
    r = conn.call(API_OFFSET_DELETE, 0, body)
    err = r.i16()
    r.i32()
    out = {}
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, perr = r.i32(), r.i16()
            out[p] = perr
    return err, out


def offset_fetch_v8(conn, groups):
    """OffsetFetch v8 (flexible, several groups; topics=null means all) ->
    {group: (error, {(topic, partition): (offset, leader_epoch, metadata, error)})}."""
    body = uvarint(len(groups) + 1)
    for g in groups:
        body += compact_string(g) + uvarint(0) + uvarint(0)  # topics null, tagged fields
    body += i8(0) + uvarint(0)  # require_stable, tagged fields
    r = conn.call(API_OFFSET_FETCH, 8, body, flexible=True)
    r.i32()
    out = {}

    def dec_part(rr, name, acc):
        p, off, epoch, meta, err = rr.i32(), rr.i64(), rr.i32(), rr.compact_string(), rr.i16()
        rr.tagged_fields()
        acc[(name, p)] = (off, epoch, meta, err)

    for _ in range(r.uvarint() - 1):
        gid = r.compact_string()
        acc = {}
        for _ in range(r.uvarint() - 1):
            name = r.compact_string()
            for _ in range(r.uvarint() - 1):
                dec_part(r, name, acc)
            r.tagged_fields()
        err = r.i16()
        r.tagged_fields()
        out[gid] = (err, acc)
    return out


# ---------------------------------------------------------------------------
# Consumer subprocess (for kill -9).
# ---------------------------------------------------------------------------

CONSUMER_SCRIPT = r'''
import json, os, sys, time
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

cfg = json.loads(sys.argv[1])
out = open(cfg["out"], "a")


def log(line):
    out.write(line + "\n")
    out.flush()


def parts(ps):
    return ",".join(str(p.partition) for p in ps)


def go_now():
    return os.path.exists(cfg["go"])


conf = {
    "bootstrap.servers": cfg["bootstrap"],
    "group.id": cfg["group"],
    "client.id": cfg["name"],
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
}
# KIP-848 ("consumer"): the broker owns the session timeout, heartbeat interval
# and assignor, and the rebalance callbacks are incremental.
incremental = cfg.get("protocol") == "consumer"
if incremental:
    conf["group.protocol"] = "consumer"
else:
    conf.update({"partition.assignment.strategy": "range", "session.timeout.ms": cfg["session_ms"],
                 "heartbeat.interval.ms": cfg["heartbeat_ms"]})
if cfg.get("instance"):
    conf["group.instance.id"] = cfg["instance"]
if cfg.get("debug"):
    conf["debug"] = cfg["debug"]
c = Consumer(conf)


def on_assign(cons, ps):
    if incremental:
        cons.incremental_assign(ps)
    else:
        cons.assign(ps)
    # librdkafka keeps an application pause on a partition across unassign /
    # assign, so partitions paused before "go" must be resumed explicitly.
    if go_now():
        cons.resume(ps)
    else:
        cons.pause(ps)
    log("A %.6f %s" % (time.time(), parts(ps)))


def on_revoke(cons, ps):
    log("R %.6f %s" % (time.time(), parts(ps)))
    try:
        for tp in cons.commit(asynchronous=False) or []:
            if tp.error is None and tp.offset >= 0:
                log("C %d %d" % (tp.partition, tp.offset))
    except KafkaException as e:
        if e.args[0].code() == KafkaError._NO_OFFSET:
            log("N %.6f nothing-to-commit" % time.time())
        else:
            log("E revoke-commit %s" % e)


def on_lost(cons, ps):
    log("L %.6f %s" % (time.time(), parts(ps)))


c.subscribe([cfg["topic"]], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
resumed = go_now()
log("S %.6f" % time.time())
while not os.path.exists(cfg["stop"]):
    if not resumed and go_now():
        resumed = True
        a = c.assignment()
        if a:
            c.resume(a)
        log("G %.6f" % time.time())
    msgs = c.consume(num_messages=cfg["batch"], timeout=0.2)
    hi = {}
    lines = []
    for m in msgs:
        if m.error() is not None:
            log("E msg %s" % m.error())
            continue
        lines.append("M %d %d %.6f" % (m.partition(), m.offset(), time.time()))
        hi[m.partition()] = max(hi.get(m.partition(), -1), m.offset())
    if lines:
        out.write("\n".join(lines) + "\n")
        out.flush()
    if hi:
        tps = [TopicPartition(cfg["topic"], p, o + 1) for p, o in sorted(hi.items())]
        try:
            c.commit(offsets=tps, asynchronous=False)
            for tp in tps:
                log("C %d %d" % (tp.partition, tp.offset))
        except KafkaException as e:
            log("E commit %s" % e)
        if cfg["sleep"]:
            time.sleep(cfg["sleep"])
c.close()
log("X %.6f" % time.time())
'''


class SubConsumer:
    """A confluent consumer in a child process, logging events to a file:
    S start, A assign, R revoke, L lost, G go, M partition offset time,
    C partition committed-offset, E error, X clean exit."""

    def __init__(self, tmp, name, bootstrap, topic, group, instance=None, session_ms=6000, heartbeat_ms=1000,
                 batch=100, sleep=0.1, go=None, stop=None, debug=None, protocol="classic"):
        self.name = name
        self.out = os.path.join(str(tmp), "%s.events" % name)
        script = os.path.join(str(tmp), "group_consumer.py")
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write(CONSUMER_SCRIPT)
        cfg = dict(bootstrap=bootstrap, topic=topic, group=group, name=name, instance=instance,
                   session_ms=session_ms, heartbeat_ms=heartbeat_ms, batch=batch, sleep=sleep, out=self.out,
                   go=go or os.path.join(str(tmp), "go"), stop=stop or os.path.join(str(tmp), "stop"),
                   debug=debug or os.environ.get("PT_GROUP_DEBUG"), protocol=protocol)
        self.stderr_path = os.path.join(str(tmp), "%s.stderr" % name)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, script, json.dumps(cfg)], stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=subprocess.STDOUT)

    def events(self):
        """Parsed complete lines of the event log."""
        try:
            with open(self.out) as f:
                data = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in data.split("\n")[:-1]:  # the last element is an unterminated line (or "")
            if line:
                out.append(line.split(" ", 2) if line[0] == "E" else line.split(" "))
        return out

    def assignment(self):
        """Current partitions per the A/R/L lines (eager protocol)."""
        cur = set()
        for ev in self.events():
            if ev[0] == "A":
                cur = set(int(x) for x in ev[2].split(",")) if len(ev) > 2 and ev[2] else set()
            elif ev[0] in ("R", "L"):
                cur = set()
        return cur

    def owned(self):
        """Current partitions per incremental A (adds) / R, L (remove the listed) lines."""
        cur = set()
        for ev in self.events():
            if ev[0] in "ARL" and len(ev) > 2 and ev[2]:
                ps = set(int(x) for x in ev[2].split(","))
                if ev[0] == "A":
                    cur |= ps
                else:
                    cur -= ps
        return cur

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stderr_tail(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()


def parse_messages(events):
    return [(int(ev[1]), int(ev[2]), float(ev[3])) for ev in events if ev[0] == "M"]


# ---------------------------------------------------------------------------
# 1. Three confluent consumers, range assignor, 60,000 keyed messages.
# ---------------------------------------------------------------------------

def test_three_confluent_consumers_range(group_broker):
    b = group_broker
    partitions = 6
    n = 60000
    topic = helpers.unique_topic("grp-range")
    group = unique_group("g-range")
    create_topic(b.bootstrap, topic, partitions)
    delivered = produce_keyed(b.bootstrap, topic, n, "range")
    per_part = Counter(p for (p, _) in delivered)
    assert len(per_part) == partitions, "keyed messages landed on partitions %r only" % sorted(per_part)

    go = threading.Event()
    names = ["c0", "c1", "c2"]
    events = {nm: [] for nm in names}  # (time, kind, [partitions])
    owned = {nm: set() for nm in names}
    consumers = {}

    def make_cbs(nm):
        def on_assign(c, ps):
            c.assign(ps)
            if go.is_set():
                c.resume(ps)  # an application pause survives unassign/assign in librdkafka
            else:
                c.pause(ps)
            owned[nm] = set(p.partition for p in ps)
            events[nm].append((time.time(), "assign", sorted(owned[nm])))

        def on_revoke(c, ps):
            events[nm].append((time.time(), "revoke", sorted(p.partition for p in ps)))
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:
                    commit_errors.append((nm, "revoke", str(e)))
            owned[nm] = set()

        def on_lost(c, ps):
            events[nm].append((time.time(), "lost", sorted(p.partition for p in ps)))
            owned[nm] = set()
        return on_assign, on_revoke, on_lost

    commit_errors = []
    seen = defaultdict(list)  # (p, off) -> [consumer names]
    commits = 0
    try:
        for nm in names:
            c = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "range-" + nm,
                                           "partition.assignment.strategy": "range",
                                           "enable.partition.eof": False, "session.timeout.ms": 10000,
                                           "heartbeat.interval.ms": 1000})
            on_assign, on_revoke, on_lost = make_cbs(nm)
            c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
            consumers[nm] = c

        def consume_round(timeout):
            nonlocal commits
            for nm, c in consumers.items():
                msgs = c.consume(num_messages=2000, timeout=timeout)
                hi = {}
                for m in msgs:
                    if m.error() is not None:
                        raise KafkaException(m.error())
                    seen[(m.partition(), m.offset())].append(nm)
                    k, v = delivered.get((m.partition(), m.offset()), (None, None))
                    assert (m.key(), m.value()) == (k, v), "%s: p%d@%d key/value %r/%r, produced %r/%r" % (
                        nm, m.partition(), m.offset(), m.key(), m.value()[:40], k, v and v[:40])
                    hi[m.partition()] = max(hi.get(m.partition(), -1), m.offset())
                if hi:
                    try:
                        c.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in hi.items()],
                                 asynchronous=False)
                        commits += 1
                    except KafkaException as e:
                        commit_errors.append((nm, "batch", str(e)))

        # Join phase: partitions are paused until every member has its share.
        t0 = time.time()
        deadline = t0 + 40
        while True:
            consume_round(0.1)
            sizes = sorted(len(owned[nm]) for nm in names)
            union = set().union(*owned.values())
            if sizes == [2, 2, 2] and len(union) == partitions:
                break
            assert time.time() < deadline, "group did not stabilise at 2+2+2 partitions within 40s: %r; " \
                "callbacks %r" % (owned, events)
        t_stable = time.time()
        stable = {nm: sorted(owned[nm]) for nm in names}
        pre_go = len(seen)
        go.set()
        for nm, c in consumers.items():
            c.resume([TopicPartition(topic, p) for p in owned[nm]])

        deadline = time.time() + 60
        while len(seen) < n and time.time() < deadline:
            consume_round(0.2)
        # A little more polling: nothing beyond the produced offsets may show up.
        for _ in range(3):
            consume_round(0.1)
        t_done = time.time()
    finally:
        closing = list(consumers.values())
        for c in closing:
            c.close()

    # Callbacks after the group stabilised and before the final close() (which revokes).
    later = {nm: [e for e in events[nm] if t_stable < e[0] <= t_done] for nm in names}
    rebalanced = any(later.values())
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    missing = [k for k in delivered if k not in seen]
    extra = [k for k in seen if k not in delivered]
    summary("groups/range: 3 consumers, %d partitions, produced=%d consumed=%d distinct=%d duplicates=%d "
            "commits=%d join %.1fs consume %.1fs; assignment %r; callbacks after stable %r"
            % (partitions, n, sum(len(v) for v in seen.values()), len(seen), len(dups), commits,
               t_stable - t0, t_done - t_stable, stable, later))
    assert not missing, "%d produced messages never consumed, e.g. %r" % (len(missing), sorted(missing)[:5])
    assert not extra, "consumed offsets that were never produced: %r" % sorted(extra)[:5]
    assert pre_go == 0, "%d messages delivered from paused partitions before the group stabilised" % pre_go
    assert sorted(tuple(v) for v in stable.values()) == [(0, 1), (2, 3), (4, 5)], \
        "range assignment of 6 partitions over 3 members should be {0,1},{2,3},{4,5}: %r" % stable
    if not rebalanced:
        assert not dups, "no rebalance after the group stabilised, yet %d duplicates, e.g. %r" % (
            len(dups), sorted(dups.items())[:5])
        assert not commit_errors, "commit errors without a rebalance: %r" % commit_errors[:5]
        # Every consumer read only its own partitions.
        for (p, _), who in seen.items():
            assert all(p in stable[nm] for nm in who), "p%d consumed by %r, assignment %r" % (p, who, stable)
    else:
        moved = set()
        for nm in names:
            for _, kind, ps in later[nm]:
                if kind in ("revoke", "lost"):
                    moved.update(ps)
        bad = [k for k in dups if k[0] not in moved]
        assert not bad, "duplicates on partitions that were never revoked: %r (rebalances %r)" % (bad[:5], later)

    # Everything consumed is committed, and the group is Empty after the clean closes.
    ends = end_offsets(b.bootstrap, topic, partitions)
    assert committed_offsets(b.bootstrap, group, topic, partitions) == ends, "committed != end offsets"
    wait_for(lambda: describe_group(b.bootstrap, group).state == ConsumerGroupState.EMPTY, 15)
    d = describe_group(b.bootstrap, group)
    assert d.state == ConsumerGroupState.EMPTY and not d.members, \
        "after every member closed, group state %s with %d members" % (d.state, len(d.members))


# ---------------------------------------------------------------------------
# 2. A member killed with SIGKILL mid-stream.
# ---------------------------------------------------------------------------

def test_member_killed_mid_stream(group_broker, tmp_path):
    b = group_broker
    partitions = 6
    n = 30000
    session_ms = 6000
    topic = helpers.unique_topic("grp-kill")
    group = unique_group("g-kill")
    create_topic(b.bootstrap, topic, partitions)
    go = os.path.join(str(tmp_path), "go")
    stop = os.path.join(str(tmp_path), "stop")
    # No pausing: the group forms on the empty topic, then the messages are produced.
    open(go, "w").close()
    subs = []
    try:
        for k in range(3):
            subs.append(SubConsumer(tmp_path, "k%d" % k, b.bootstrap, topic, group, session_ms=session_ms,
                                    heartbeat_ms=1000, batch=100, sleep=0.1, go=go, stop=stop))

        def stable():
            a = [s.assignment() for s in subs]
            return sorted(len(x) for x in a) == [2, 2, 2] and len(set().union(*a)) == partitions

        assert wait_for(stable, 40, 0.2), "3 subprocess consumers did not reach 2+2+2 within 40s: %r; stderr %s" % (
            [s.assignment() for s in subs], [s.stderr_tail() for s in subs])
        victim, survivors = subs[0], subs[1:]
        victim_parts = victim.assignment()
        delivered = produce_keyed(b.bootstrap, topic, n, "kill")

        assert wait_for(lambda: len(parse_messages(victim.events())) >= 1000, 30, 0.05), \
            "victim consumed only %d messages in 30s" % len(parse_messages(victim.events()))
        t_kill = time.time()
        victim.kill9()
        victim_msgs = parse_messages(victim.events())
        total_before = len(set((p, o) for s in subs for (p, o, _) in parse_messages(s.events())))
        assert total_before < n, "everything was consumed before the kill; nothing mid-stream"
        committed_at_kill = committed_offsets(b.bootstrap, group, topic, partitions)
        victim_max = {}
        for p, o, _ in victim_msgs:
            victim_max[p] = max(victim_max.get(p, -1), o)

        def taken_over():
            for s in survivors:
                for ev in s.events():
                    if ev[0] == "A" and float(ev[1]) > t_kill and len(ev) > 2 and ev[2]:
                        got = set(int(x) for x in ev[2].split(","))
                        if got & victim_parts:
                            return float(ev[1])
            return None

        t_takeover = wait_for(taken_over, session_ms / 1000 + 20, 0.1)
        assert t_takeover, "no survivor was assigned the victim's partitions %r within %.0fs of the kill; " \
            "survivor assignments %r" % (sorted(victim_parts), session_ms / 1000 + 20,
                                          [s.assignment() for s in survivors])

        def all_consumed():
            got = set()
            for s in subs:
                got.update((p, o) for (p, o, _) in parse_messages(s.events()))
            return len(got) >= n

        if not wait_for(all_consumed, 60, 0.2):
            got = Counter()
            for s in subs:
                got.update(set((p, o) for (p, o, _) in parse_messages(s.events())))
            by_part = {p: (sum(1 for (pp, _) in got if pp == p), sum(1 for (pp, _) in delivered if pp == p))
                       for p in range(partitions)}
            raise AssertionError("not every message consumed within 60s after the takeover: per partition "
                                 "(consumed, produced) %r; survivor assignments %r; committed now %r; events %r"
                                 % (by_part, {s.name: sorted(s.assignment()) for s in survivors},
                                    committed_offsets(b.bootstrap, group, topic, partitions),
                                    {s.name: [e for e in s.events() if e[0] not in "MC"] for s in subs}))
        t_stop = time.time()
        open(stop, "w").close()
        for s in survivors:
            s.proc.wait(30)
    finally:
        for s in subs:
            s.close()

    takeover_s = t_takeover - t_kill
    per_owner = {s.name: parse_messages(s.events()) for s in subs}
    counts = Counter()
    for msgs in per_owner.values():
        counts.update((p, o) for (p, o, _) in msgs)
    dups = {k: c for k, c in counts.items() if c > 1}
    uncommitted = {p: (committed_at_kill[p], victim_max.get(p, -1)) for p in victim_parts}
    summary("groups/kill9: produced=%d consumed=%d distinct=%d duplicates=%d; victim had %r, consumed %d; "
            "takeover %.1fs after kill (session.timeout.ms=%d); victim uncommitted ranges %r"
            % (n, sum(counts.values()), len(counts), sum(c - 1 for c in dups.values()), sorted(victim_parts),
               len(per_owner[victim.name]), takeover_s, session_ms, uncommitted))
    missing = [k for k in delivered if k not in counts]
    assert not missing, "%d messages never consumed, e.g. %r" % (len(missing), sorted(missing)[:5])
    assert takeover_s <= session_ms / 1000 + 5, "victim's partitions reassigned %.1fs after kill -9, " \
        "session.timeout.ms=%d" % (takeover_s, session_ms)
    for s in survivors:
        ev = s.events()
        assert ev and ev[-1][0] == "X", "%s did not exit cleanly: last events %r, stderr %s" % (
            s.name, ev[-3:], s.stderr_tail())
        errs = [e for e in ev if e[0] == "E"]
        assert not errs, "%s logged errors: %r" % (s.name, errs[:5])
    # Survivors resume the victim's partitions exactly at the committed offsets.
    for p in sorted(victim_parts):
        after = [o for s in survivors for (pp, o, t) in parse_messages(s.events()) if pp == p and t > t_kill]
        ends_p = sum(1 for (pp, _) in delivered if pp == p)
        start = committed_at_kill[p] if committed_at_kill[p] >= 0 else 0  # none committed: earliest
        if start < ends_p:
            assert after and min(after) == start, \
                "p%d: committed offset at kill was %d but survivors resumed at %r" % (
                    p, committed_at_kill[p], min(after) if after else None)
    # Duplicates only inside what the victim had consumed but not committed.
    for (p, o), c in dups.items():
        assert p in victim_parts and c == 2 and committed_at_kill[p] <= o <= victim_max.get(p, -1), \
            "p%d@%d consumed %d times, outside the victim's uncommitted range %r" % (p, o, c, uncommitted)


# ---------------------------------------------------------------------------
# 3. cooperative-sticky: a third member joins, nobody loses what it keeps.
# ---------------------------------------------------------------------------

def test_cooperative_sticky_incremental(group_broker):
    b = group_broker
    partitions = 6
    topic = helpers.unique_topic("grp-coop")
    group = unique_group("g-coop")
    create_topic(b.bootstrap, topic, partitions)
    produce_keyed(b.bootstrap, topic, 600, "coop")
    names = ["a", "b", "c"]
    owned = {nm: set() for nm in names}
    log = {nm: [] for nm in names}  # (time, kind, partitions)
    consumers = {}

    def cbs(nm):
        def on_assign(c, ps):
            got = set(p.partition for p in ps)
            assert not (got & owned[nm]), "%s assigned %r it already owns" % (nm, got & owned[nm])
            owned[nm] |= got
            log[nm].append((time.time(), "assign", sorted(got)))

        def on_revoke(c, ps):
            got = set(p.partition for p in ps)
            owned[nm] -= got
            log[nm].append((time.time(), "revoke", sorted(got)))

        def on_lost(c, ps):
            got = set(p.partition for p in ps)
            owned[nm] -= got
            log[nm].append((time.time(), "lost", sorted(got)))
        return on_assign, on_revoke, on_lost

    def add(nm):
        c = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "coop-" + nm,
                                       "partition.assignment.strategy": "cooperative-sticky",
                                       "enable.partition.eof": False, "session.timeout.ms": 10000,
                                       "heartbeat.interval.ms": 500})
        on_assign, on_revoke, on_lost = cbs(nm)
        c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
        consumers[nm] = c

    def settle(members, want, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for nm in members:
                consumers[nm].poll(0.05)
            sizes = sorted(len(owned[nm]) for nm in members)
            union = set().union(*(owned[nm] for nm in members))
            total = sum(len(owned[nm]) for nm in members)
            last_cb = max([e[0] for nm in members for e in log[nm]] or [0])
            if sizes == want and len(union) == partitions and total == partitions:
                if time.time() - last_cb > 2.0:
                    return True
        return False

    try:
        add("a")
        add("b")
        assert settle(["a", "b"], [3, 3], 40), "a+b did not settle at 3+3: %r, callbacks %r" % (owned, log)
        before = {nm: set(owned[nm]) for nm in ("a", "b")}
        t_join = time.time()
        add("c")
        assert settle(names, [2, 2, 2], 40), "a+b+c did not settle at 2+2+2: %r, callbacks %r" % (owned, log)
        after = {nm: set(owned[nm]) for nm in names}
        phase2 = {nm: [e for e in log[nm] if e[0] > t_join] for nm in names}
    finally:
        for c in consumers.values():
            c.close()

    summary("groups/cooperative-sticky: before %r after %r; callbacks after c joined %r"
            % ({k: sorted(v) for k, v in before.items()}, {k: sorted(v) for k, v in after.items()},
               {k: [(kind, ps) for (_, kind, ps) in v] for k, v in phase2.items()}))
    for nm in ("a", "b"):
        revoked = set()
        for _, kind, ps in phase2[nm]:
            assert kind != "lost", "%s lost partitions %r (cooperative rebalance should revoke)" % (nm, ps)
            if kind == "assign":
                assert not ps, "%s was assigned %r after c joined" % (nm, ps)
            if kind == "revoke":
                revoked.update(ps)
        assert after[nm] <= before[nm], "%s now owns %r, had %r" % (nm, sorted(after[nm]), sorted(before[nm]))
        assert revoked == before[nm] - after[nm], "%s revoked %r but only %r moved (kept %r)" % (
            nm, sorted(revoked), sorted(before[nm] - after[nm]), sorted(after[nm]))
        assert len(revoked) == 1, "%s gave up %d partitions, sticky 3+3 -> 2+2+2 moves one each" % (
            nm, len(revoked))
    assert after["c"] == (before["a"] - after["a"]) | (before["b"] - after["b"])


# ---------------------------------------------------------------------------
# 4. Static membership (KIP-345).
# ---------------------------------------------------------------------------

def test_static_member_restart_no_rebalance(group_broker, tmp_path):
    b = group_broker
    partitions = 4
    session_ms = 10000
    topic = helpers.unique_topic("grp-static")
    group = unique_group("g-static")
    instance = "static-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic, partitions)
    delivered = produce_keyed(b.bootstrap, topic, 4000, "static")
    open(os.path.join(str(tmp_path), "go"), "w").close()
    cb_log = []
    stats = {}

    def on_stats(js):
        cg = json.loads(js).get("cgrp") or {}
        stats.update(rebalance_cnt=cg.get("rebalance_cnt"), state=cg.get("state"))

    other = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "static-other",
                                       "partition.assignment.strategy": "range", "enable.partition.eof": False,
                                       "session.timeout.ms": session_ms, "heartbeat.interval.ms": 1000,
                                       "statistics.interval.ms": 500, "stats_cb": on_stats})
    owned = set()

    def on_assign(c, ps):
        owned.clear()
        owned.update(p.partition for p in ps)
        cb_log.append((time.time(), "assign", sorted(owned)))

    def on_revoke(c, ps):
        cb_log.append((time.time(), "revoke", sorted(p.partition for p in ps)))
        owned.clear()

    def on_lost(c, ps):
        cb_log.append((time.time(), "lost", sorted(p.partition for p in ps)))
        owned.clear()

    subs = []

    def poll_until(pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            other.poll(0.1)
            if pred():
                return True
        return pred()

    try:
        other.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
        assert poll_until(lambda: len(owned) == partitions, 30), "first member not assigned all partitions"
        a = SubConsumer(tmp_path, "static-a", b.bootstrap, topic, group, instance=instance,
                        session_ms=session_ms, heartbeat_ms=1000, batch=50, sleep=0.2)
        subs.append(a)
        assert poll_until(lambda: len(owned) == 2 and len(a.assignment()) == 2
                          and not (owned & a.assignment()), 40), \
            "other %r, static %r after 40s; stderr %s" % (owned, a.assignment(), a.stderr_tail())
        poll_until(lambda: False, 1.5)
        d1 = describe_group(b.bootstrap, group)
        n_cb = len(cb_log)
        other_parts = set(owned)
        static_parts = a.assignment()
        other_id = other.memberid()
        stats_before = dict(stats)
        poll_until(lambda: len(parse_messages(a.events())) >= 100, 20)

        t_kill = time.time()
        a.kill9()
        committed_at_kill = committed_offsets(b.bootstrap, group, topic, partitions)
        a2 = SubConsumer(tmp_path, "static-a2", b.bootstrap, topic, group, instance=instance,
                         session_ms=session_ms, heartbeat_ms=1000, batch=50, sleep=0.0)
        subs.append(a2)
        assert poll_until(lambda: len(a2.assignment()) > 0, 20), \
            "restarted static member got no assignment: events %r stderr %s" % (a2.events()[-5:], a2.stderr_tail())
        t_a2 = time.time()
        # Past the old incarnation's session timeout: still no rebalance.
        poll_until(lambda: False, max(0.0, t_kill + session_ms / 1000 + 4 - time.time()))
        d2 = describe_group(b.bootstrap, group)
        stats_after = dict(stats)
        new_cbs = cb_log[n_cb:]
        a2_assignment = a2.assignment()
        a2_events = a2.events()
        final_owned = set(owned)
    finally:
        other.close()
        for s in subs:
            s.close()

    def members(d):
        return {m.member_id: (m.group_instance_id, m.client_id,
                              sorted(tp.partition for tp in m.assignment.topic_partitions)) for m in d.members}

    m1, m2 = members(d1), members(d2)
    summary("groups/static: static member restarted %.1fs after kill -9 (session %dms); other member callbacks "
            "after restart %r; rebalance_cnt %s -> %s; members before %r after %r"
            % (t_a2 - t_kill, session_ms, new_cbs, stats_before.get("rebalance_cnt"),
               stats_after.get("rebalance_cnt"), m1, m2))
    assert not new_cbs, "the other member saw rebalance callbacks after the static member restarted: %r" % new_cbs
    assert final_owned == other_parts, "other member owns %r, had %r" % (final_owned, other_parts)
    assert a2_assignment == static_parts, "restarted static member got %r, the old one had %r" % (
        sorted(a2_assignment), sorted(static_parts))
    assert len([e for e in a2_events if e[0] == "A"]) == 1, "restarted static member assigned repeatedly: %r" % (
        [e for e in a2_events if e[0] in "ARL"])
    if stats_before.get("rebalance_cnt") is not None and stats_after.get("rebalance_cnt") is not None:
        assert stats_after["rebalance_cnt"] == stats_before["rebalance_cnt"], \
            "librdkafka rebalance_cnt of the other member went %s -> %s" % (
                stats_before["rebalance_cnt"], stats_after["rebalance_cnt"])
    assert d2.state == ConsumerGroupState.STABLE, "group state %s after the static restart" % d2.state
    assert len(m2) == 2 and other_id in m2, "members after restart %r (other member id %s)" % (m2, other_id)
    static_before = [mid for mid, v in m1.items() if v[0] == instance]
    static_after = [mid for mid, v in m2.items() if v[0] == instance]
    assert len(static_before) == 1 and len(static_after) == 1, (m1, m2)
    assert static_after[0] != static_before[0], "KIP-345: the rejoining static member gets a new member id"
    assert m2[static_after[0]][2] == sorted(static_parts)
    # It resumed from the committed offsets.
    for p in sorted(static_parts):
        first = [o for (pp, o, _) in parse_messages(a2_events) if pp == p]
        total_p = sum(1 for (pp, _) in delivered if pp == p)
        start = committed_at_kill[p] if committed_at_kill[p] >= 0 else 0
        if start < total_p:
            assert first and first[0] == start, "p%d: committed %d at kill, restarted member " \
                "started at %r" % (p, committed_at_kill[p], first[:1])


def test_raw_join_sync_heartbeat_static_replace_leave(group_broker):
    """Wire-level JoinGroup v5 / SyncGroup v3 / Heartbeat v3 / LeaveGroup v3:
    KIP-394 member ids, a static member replaced without a new generation
    (DescribeGroups has no generation; the JoinGroup answers do), fencing of
    the old member id, and a batched leave."""
    b = group_broker
    group = unique_group("g-raw")
    topic = helpers.unique_topic("grp-raw")
    instance = "raw-inst-" + uuid.uuid4().hex[:6]
    sub = subscription_v0([topic])
    protos = [("range", sub)]
    m1c = RawConn(b.addr)
    s1c = RawConn(b.addr)
    s2c = RawConn(b.addr)
    try:
        err, _, node, host, port = find_coordinator(m1c, group)
        assert err == ERR_NONE and (host, port) == ("127.0.0.1", b.port), (err, node, host, port)

        j = join_v5(m1c, group, "", None, protos)
        assert j.error == ERR_MEMBER_ID_REQUIRED and j.member_id, \
            "JoinGroup v5 without member id: error %d member %r (KIP-394 wants 79 + an id)" % (j.error, j.member_id)
        m1 = j.member_id
        j = join_v5(m1c, group, m1, None, protos)
        assert j.error == ERR_NONE, "rejoin with the given member id: error %d" % j.error
        g1 = j.generation
        assert g1 >= 1 and j.leader == m1 and j.member_id == m1 and j.protocol == "range", j
        assert j.members == [(m1, None, sub)], "leader's member list %r" % (j.members,)
        a_m1 = assignment_v0({topic: [0, 1, 2]})
        assert sync_v3(m1c, group, g1, m1, None, [(m1, a_m1)]) == (ERR_NONE, a_m1)
        assert heartbeat_v3(m1c, group, g1, m1) == ERR_NONE
        assert heartbeat_v3(m1c, group, g1 + 5, m1) == ERR_ILLEGAL_GENERATION
        assert heartbeat_v3(m1c, group, g1, "no-such-member") == ERR_UNKNOWN_MEMBER_ID

        # A static member joins (no member id round trip for static members).
        res = {}
        th = threading.Thread(target=lambda: res.update(j=join_v5(s1c, group, "", instance, protos)))
        th.start()
        deadline = time.time() + 15
        while True:
            hb = heartbeat_v3(m1c, group, g1, m1)
            if hb == ERR_REBALANCE_IN_PROGRESS:
                break
            assert hb == ERR_NONE and time.time() < deadline, "heartbeat %d while a member joins" % hb
            time.sleep(0.2)
        jm = join_v5(m1c, group, m1, None, protos)
        th.join(30)
        js = res.get("j")
        assert jm.error == ERR_NONE and js is not None and js.error == ERR_NONE, (jm, js)
        g2 = jm.generation
        s1 = js.member_id
        assert g2 == g1 + 1 and js.generation == g2 and jm.leader == m1 and js.leader == m1, (jm, js)
        assert sorted(jm.members) == sorted([(m1, None, sub), (s1, instance, sub)]), jm.members
        assert js.members == [], "non-leader got the member list %r" % (js.members,)
        a_s = assignment_v0({topic: [3, 4, 5]})
        a_m1 = assignment_v0({topic: [0, 1, 2]})
        assert sync_v3(m1c, group, g2, m1, None, [(m1, a_m1), (s1, a_s)]) == (ERR_NONE, a_m1)
        assert sync_v3(s1c, group, g2, s1, instance) == (ERR_NONE, a_s)
        assert heartbeat_v3(s1c, group, g2, s1, instance) == ERR_NONE

        # The static member "restarts": new connection, no member id.
        t0 = time.time()
        jr = join_v5(s2c, group, "", instance, protos)
        dt = time.time() - t0
        assert jr.error == ERR_NONE, "static rejoin: error %d" % jr.error
        s2 = jr.member_id
        assert jr.generation == g2, "static member replacement bumped the generation %d -> %d" % (g2, jr.generation)
        assert s2 and s2 != s1 and jr.leader == m1, jr
        assert sync_v3(s2c, group, g2, s2, instance) == (ERR_NONE, a_s), "replaced static member's assignment"
        assert heartbeat_v3(m1c, group, g2, m1) == ERR_NONE, "the other member was told to rebalance"
        assert heartbeat_v3(s1c, group, g2, s1, instance) == ERR_FENCED_INSTANCE_ID, "old static member id not fenced"
        assert heartbeat_v3(s2c, group, g2, s2, instance) == ERR_NONE
        desc = describe_groups_v4(m1c, [group])[group]
        assert desc[0] == ERR_NONE and desc[1] == "Stable" and desc[2] == "consumer" and desc[3] == "range", desc
        assert sorted((m[0], m[1]) for m in desc[4]) == sorted([(m1, None), (s2, instance)]), desc[4]

        # One batched LeaveGroup for both: by member id, and by instance id alone.
        err, members = leave_v3(m1c, group, [(m1, None), ("", instance)])
        assert err == ERR_NONE and sorted(e for (_, _, e) in members) == [0, 0], (err, members)
        desc = describe_groups_v4(m1c, [group])[group]
        assert desc[1] == "Empty" and desc[4] == [], "after leaving: %r" % (desc,)
    finally:
        for c in (m1c, s1c, s2c):
            c.close()
    summary("groups/raw: gen %d -> %d on static join; static rejoin in %.3fs kept gen %d, member id %s -> %s"
            % (g1, g2, dt, jr.generation, s1, s2))


def test_initial_rebalance_delay(broker_factory):
    """group.initial.rebalance.delay.ms: the first generation waits for the delay
    so members joining during it land in the same generation."""
    b = broker_factory(overrides={"group.initial.rebalance.delay.ms": 2000}, name="delay")
    group = unique_group("g-delay")
    protos = [("range", subscription_v0(["t"]))]
    conns = [RawConn(b.addr), RawConn(b.addr)]
    try:
        assert find_coordinator(conns[0], group)[0] == ERR_NONE
        ids = []
        for c in conns:
            j = join_v5(c, group, "", None, protos)
            assert j.error == ERR_MEMBER_ID_REQUIRED, j
            ids.append(j.member_id)
        res = {}

        def join(k):
            res[k] = (join_v5(conns[k], group, ids[k], None, protos), time.time())

        t0 = time.time()
        ths = [threading.Thread(target=join, args=(0,))]
        ths[0].start()
        time.sleep(0.5)
        ths.append(threading.Thread(target=join, args=(1,)))
        ths[1].start()
        for th in ths:
            th.join(40)
    finally:
        for c in conns:
            c.close()
    (j0, t_0), (j1, t_1) = res[0], res[1]
    summary("groups/delay: 2 members joined 0.5s apart with delay 2000ms: answered after %.2fs / %.2fs, "
            "generations %d/%d" % (t_0 - t0, t_1 - t0, j0.generation, j1.generation))
    assert j0.error == ERR_NONE and j1.error == ERR_NONE, (j0, j1)
    assert j0.generation == j1.generation == 1, "both should be in generation 1: %r %r" % (j0, j1)
    assert t_0 - t0 >= 1.9, "first JoinGroup answered after %.2fs, delay is 2s" % (t_0 - t0)
    assert t_0 - t0 < 12, "first JoinGroup took %.2fs" % (t_0 - t0)
    leader = j0 if j0.leader == j0.member_id else j1
    assert sorted(m[0] for m in leader.members) == sorted(ids), leader.members


# ---------------------------------------------------------------------------
# 5. Committed offsets and metadata survive restarts.
# ---------------------------------------------------------------------------

def test_committed_offsets_survive_restart(broker_factory):
    b = broker_factory(overrides=GROUP_OVERRIDES, name="group-restart")
    partitions = 3
    topic = helpers.unique_topic("grp-restart")
    g_member = unique_group("g-rs-member")
    g_simple = unique_group("g-rs-simple")
    g_kp = unique_group("g-rs-kp")
    create_topic(b.bootstrap, topic, partitions)
    delivered = produce_keyed(b.bootstrap, topic, 300, "rs")
    ends = end_offsets(b.bootstrap, topic, partitions)

    # A real member commits what it consumed, with metadata.
    c = ck_consumer(b.bootstrap, **{"group.id": g_member, "partition.assignment.strategy": "range",
                                   "enable.partition.eof": False})
    got = 0
    try:
        c.subscribe([topic])
        deadline = time.time() + 30
        while got < 200 and time.time() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                got += 1
        assert got >= 200, "member consumed only %d" % got
        pos = [tp for tp in c.position([TopicPartition(topic, p) for p in range(partitions)])]
        member_commit = [TopicPartition(topic, tp.partition, tp.offset, metadata="member-meta-%d" % tp.partition)
                         for tp in pos if tp.offset >= 0]
        res = c.commit(offsets=member_commit, asynchronous=False)
        assert all(tp.error is None for tp in res), res
    finally:
        c.close()
    member_expected = {tp.partition: (tp.offset, tp.metadata) for tp in member_commit}

    # A standalone (generation -1) commit with varied metadata strings.
    metas = {0: "", 1: "méta-ü-✓ 日本", 2: "m" * 3000}
    simple_expected = {p: (ends[p] - p - 1, metas[p]) for p in range(partitions)}
    c = ck_consumer(b.bootstrap, **{"group.id": g_simple})
    try:
        res = c.commit(offsets=[TopicPartition(topic, p, o, metadata=m) for p, (o, m) in simple_expected.items()],
                       asynchronous=False)
        assert all(tp.error is None for tp in res), res
    finally:
        c.close()

    # kafka-python, OffsetAndMetadata.
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    kp_expected = {0: (7, "kp-zero"), 1: (11, "kp-one"), 2: (0, "kp-two")}
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=g_kp, enable_auto_commit=False)
    try:
        kc.assign([KTP(topic, p) for p in range(partitions)])
        kc.commit({KTP(topic, p): OffsetAndMetadata(o, m, -1) for p, (o, m) in kp_expected.items()})
    finally:
        kc.close()

    def check(label):
        got_member = committed_offsets(b.bootstrap, g_member, topic, partitions, with_metadata=True)
        got_simple = committed_offsets(b.bootstrap, g_simple, topic, partitions, with_metadata=True)
        assert {p: v for p, v in got_member.items() if p in member_expected} == member_expected, \
            "%s: member group offsets %r, committed %r" % (label, got_member, member_expected)
        assert got_simple == simple_expected, "%s: standalone offsets %r, committed %r" % (
            label, {p: (o, m[:40] if m else m) for p, (o, m) in got_simple.items()},
            {p: (o, m[:40]) for p, (o, m) in simple_expected.items()})
        kc2 = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=g_kp, enable_auto_commit=False)
        try:
            for p, (o, m) in kp_expected.items():
                om = kc2.committed(KTP(topic, p), metadata=True)
                assert om is not None and (om.offset, om.metadata) == (o, m), "%s: kafka-python p%d: %r" % (
                    label, p, om)
        finally:
            kc2.close()
        adm = ck_admin(b.bootstrap)  # keep a reference until the future resolves
        listed = adm.list_consumer_groups(request_timeout=15).result(20)
        assert not listed.errors, "%s: ListGroups errors %r" % (label, listed.errors)
        ids = set(g.group_id for g in listed.valid)
        assert {g_member, g_simple, g_kp} <= ids, "%s: groups listed %r" % (label, sorted(ids))
        d = describe_group(b.bootstrap, g_member)
        assert d.state == ConsumerGroupState.EMPTY and not d.members, \
            "%s: group whose only member left is %s with members %r" % (
                label, d.state, [(m.member_id, m.client_id) for m in d.members])

    check("before restart")
    b.stop()
    b.start()
    check("after SIGTERM restart")

    # More commits, then kill -9: acknowledged commits must survive too.
    simple_expected = {p: (ends[p], "after-restart-%d" % p) for p in range(partitions)}
    c = ck_consumer(b.bootstrap, **{"group.id": g_simple})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o, metadata=m) for p, (o, m) in simple_expected.items()],
                 asynchronous=False)
    finally:
        c.close()
    b.kill9()
    b.start()
    check("after kill -9 restart")

    # The member group resumes exactly at its committed offsets.
    c = ck_consumer(b.bootstrap, **{"group.id": g_member, "partition.assignment.strategy": "range",
                                   "enable.partition.eof": False})
    resumed = defaultdict(list)
    try:
        c.subscribe([topic])
        want = sum(ends[p] - member_expected.get(p, (0, ""))[0] for p in range(partitions))
        deadline = time.time() + 30
        while sum(len(v) for v in resumed.values()) < want and time.time() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                resumed[m.partition()].append(m.offset())
    finally:
        c.close()
    for p in range(partitions):
        start = member_expected.get(p, (0, ""))[0]
        assert resumed[p] == list(range(start, ends[p])), "p%d after restarts consumed %r..., committed %d end %d" % (
            p, resumed[p][:3], start, ends[p])
    summary("groups/restart: 3 groups' offsets+metadata identical after SIGTERM and kill -9 restarts; member "
            "group resumed %d messages from %r" % (sum(len(v) for v in resumed.values()), member_expected))
    assert len(delivered) == 300


# ---------------------------------------------------------------------------
# 6. kafka-python and aiokafka group consumers share committed positions.
# ---------------------------------------------------------------------------

def kp_group_consume(bootstrap, topic, group, expected, timeout=40.0, linger=0.0):
    from kafka import KafkaConsumer
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000)
    got = []
    try:
        c.subscribe([topic])
        deadline = time.time() + timeout
        while len(got) < expected and time.time() < deadline:
            for tp, recs in c.poll(timeout_ms=500, max_records=2000).items():
                got.extend((tp.partition, r.offset, r.key) for r in recs)
        end = time.time() + linger
        while time.time() < end:
            for tp, recs in c.poll(timeout_ms=200, max_records=2000).items():
                got.extend((tp.partition, r.offset, r.key) for r in recs)
        c.commit()
    finally:
        c.close()
    return got


async def _aio_group_consume(bootstrap, topic, group, expected, timeout):
    from aiokafka import AIOKafkaConsumer
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000)
    await c.start()
    got = []
    try:
        deadline = time.time() + timeout
        while len(got) < expected and time.time() < deadline:
            res = await c.getmany(timeout_ms=500, max_records=2000)
            for tp, recs in res.items():
                got.extend((tp.partition, r.offset, r.key) for r in recs)
        await c.commit()
    finally:
        await c.stop()
    return got


def test_kafka_python_and_aiokafka_groups(group_broker):
    b = group_broker
    partitions = 3
    topic = helpers.unique_topic("grp-py")
    group = unique_group("g-py")
    create_topic(b.bootstrap, topic, partitions)
    batch1 = produce_keyed(b.bootstrap, topic, 5000, "py1")
    t0 = time.time()
    got1 = kp_group_consume(b.bootstrap, topic, group, 5000)
    t1 = time.time()
    assert sorted((p, o) for p, o, _ in got1) == sorted(batch1), \
        "kafka-python group consumer: %d records, %d distinct, expected the 5000 of batch 1" % (
            len(got1), len(set((p, o) for p, o, _ in got1)))
    ends1 = end_offsets(b.bootstrap, topic, partitions)
    assert committed_offsets(b.bootstrap, group, topic, partitions) == ends1, "kafka-python commit not stored"

    batch2 = produce_keyed(b.bootstrap, topic, 5000, "py2", start=5000)
    got2 = asyncio.run(asyncio.wait_for(_aio_group_consume(b.bootstrap, topic, group, 5000, 40), 60))
    t2 = time.time()
    assert sorted((p, o) for p, o, _ in got2) == sorted(batch2), \
        "aiokafka in the same group: %d records (%d from batch 1), expected exactly batch 2's 5000" % (
            len(got2), sum(1 for p, o, _ in got2 if (p, o) in batch1))
    ends2 = end_offsets(b.bootstrap, topic, partitions)
    assert committed_offsets(b.bootstrap, group, topic, partitions) == ends2, "aiokafka commit not stored"

    batch3 = produce_keyed(b.bootstrap, topic, 100, "py3", start=10000)
    got3 = kp_group_consume(b.bootstrap, topic, group, 100, linger=1.5)
    t3 = time.time()
    old = [(p, o) for p, o, _ in got3 if (p, o) not in batch3]
    summary("groups/python: kafka-python consumed %d (%.1fs), aiokafka %d (%.1fs), second kafka-python %d "
            "(%d old) (%.1fs)" % (len(got1), t1 - t0, len(got2), t2 - t1, len(got3), len(old), t3 - t2))
    assert not old, "second kafka-python consumer re-read %d committed records, e.g. %r" % (len(old), old[:5])
    assert sorted((p, o) for p, o, _ in got3) == sorted(batch3)
    assert committed_offsets(b.bootstrap, group, topic, partitions) == end_offsets(b.bootstrap, topic, partitions)


# ---------------------------------------------------------------------------
# 7. Admin APIs.
# ---------------------------------------------------------------------------

def kafka_error_of(fut, timeout=20):
    """The error of an admin future: raised, or (alter offsets) the first per-partition error."""
    try:
        res = fut.result(timeout)
    except KafkaException as e:
        return e.args[0]
    for tp in getattr(res, "topic_partitions", None) or []:
        if tp.error is not None:
            return tp.error
    return None


def test_admin_group_operations(group_broker):
    b = group_broker
    partitions = 3
    topic = helpers.unique_topic("grp-adm")
    group = unique_group("g-adm")
    simple = unique_group("g-adm-simple")
    missing = unique_group("g-adm-missing")
    create_topic(b.bootstrap, topic, partitions)
    produce_keyed(b.bootstrap, topic, 300, "adm")
    ends = end_offsets(b.bootstrap, topic, partitions)
    admin = ck_admin(b.bootstrap)
    broker_id = list(admin.list_topics(timeout=10).brokers)[0]

    # A standalone commit makes a "simple" group.
    sc = ck_consumer(b.bootstrap, **{"group.id": simple})
    try:
        sc.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    finally:
        sc.close()

    c = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "adm-client",
                                   "partition.assignment.strategy": "range", "enable.partition.eof": False})
    raw = RawConn(b.addr)
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.time() + 30
        while got < 300 and time.time() < deadline:
            for m in c.consume(300, 0.5):
                assert m.error() is None, m.error()
                got += 1
        assert got == 300, got
        c.commit(asynchronous=False)

        def listing(states=None):
            kw = {"request_timeout": 15}
            if states is not None:
                kw["states"] = states
            res = admin.list_consumer_groups(**kw).result(20)
            assert not res.errors, res.errors
            return {g.group_id: g for g in res.valid}

        stable = listing({ConsumerGroupState.STABLE})
        assert group in stable and stable[group].state == ConsumerGroupState.STABLE, sorted(stable)
        assert not stable[group].is_simple_consumer_group
        assert simple not in stable, "standalone-commit group listed as Stable"
        empty = listing({ConsumerGroupState.EMPTY})
        assert group not in empty and simple in empty, "EMPTY filter: %r" % sorted(empty)
        everything = listing()
        assert group in everything and simple in everything
        assert everything[simple].is_simple_consumer_group, "group with only offsets should be simple"

        d = describe_group(b.bootstrap, group)
        assert d.state == ConsumerGroupState.STABLE and d.partition_assignor == "range", (d.state,
                                                                                           d.partition_assignor)
        assert not d.is_simple_consumer_group and d.coordinator.id == broker_id, d
        assert len(d.members) == 1, d.members
        mem = d.members[0]
        assert mem.client_id == "adm-client" and mem.host and mem.member_id == c.memberid(), mem
        assert sorted((tp.topic, tp.partition) for tp in mem.assignment.topic_partitions) == \
            [(topic, p) for p in range(partitions)], mem.assignment.topic_partitions

        dm = admin.describe_consumer_groups([missing], request_timeout=15)[missing]
        try:
            dmr = dm.result(20)
            assert dmr.state == ConsumerGroupState.DEAD and not dmr.members, "unknown group described as %s" % (
                dmr.state,)
        except KafkaException as e:
            assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e

        err = kafka_error_of(admin.delete_consumer_groups([group], request_timeout=15)[group])
        assert err is not None and err.code() == KafkaError.NON_EMPTY_GROUP, \
            "DeleteGroups of an active group: %r (want NON_EMPTY_GROUP)" % (err,)

        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                 request_timeout=15)[group].result(20)
        assert {tp.partition: tp.offset for tp in offs.topic_partitions if tp.topic == topic} == ends, \
            offs.topic_partitions

        # Admin offset changes on an active group are refused: an OffsetCommit with
        # generation -1 and no member id is only allowed while the group is Empty
        # (Kafka: "When the group is non-empty, only members can commit offsets" -> UNKNOWN_MEMBER_ID).
        assert find_coordinator(raw, group)[0] == ERR_NONE
        raw_errs = offset_commit_v2(raw, group, topic, {0: (1, "raw")})
        err = kafka_error_of(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 2)])], request_timeout=15)[group])
        after_alter = committed_offsets(b.bootstrap, group, topic, partitions)
        assert raw_errs == {0: ERR_UNKNOWN_MEMBER_ID}, \
            "raw OffsetCommit v2 (generation -1, member '') on an active group: %r, want UNKNOWN_MEMBER_ID (25); " \
            "committed offsets now %r (were %r)" % (raw_errs, after_alter, ends)
        assert err is not None and err.code() == KafkaError.UNKNOWN_MEMBER_ID, \
            "AlterConsumerGroupOffsets on an active group: %r; committed offsets now %r (were %r)" % (
                err, after_alter, ends)
        assert after_alter == ends, "refused admin commits changed the offsets: %r -> %r" % (ends, after_alter)
        # OffsetDelete of a subscribed topic while active.
        err, perr = offset_delete_v0(raw, group, topic, [2])
        assert (err, perr) in ((ERR_NONE, {2: ERR_GROUP_SUBSCRIBED_TO_TOPIC}),
                               (ERR_GROUP_SUBSCRIBED_TO_TOPIC, {2: ERR_GROUP_SUBSCRIBED_TO_TOPIC})), (err, perr)

        # Multi-group OffsetFetch v8 in one request.
        fetched = offset_fetch_v8(raw, [group, simple, missing])
        assert fetched[group][0] == ERR_NONE and {p: v[0] for (t, p), v in fetched[group][1].items()
                                                   if t == topic} == ends, fetched[group]
        assert fetched[simple][0] == ERR_NONE and fetched[simple][1].get((topic, 0), (None,))[0] == 1, fetched[simple]
        assert fetched[missing] == (ERR_NONE, {}), fetched[missing]

        # kafka-python admin.
        from kafka import KafkaAdminClient
        from kafka import TopicPartition as KTP
        ka = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        try:
            kl = ka.list_consumer_groups()
            assert any(g[0] == group for g in kl) and any(g[0] == simple for g in kl), kl
            assert [g for g in kl if g[0] == group][0][1] == "consumer", kl
            kd = ka.describe_consumer_groups([group])[0]
            assert (kd.group, kd.state, kd.protocol_type, kd.protocol) == (group, "Stable", "consumer", "range"), kd
            assert len(kd.members) == 1 and kd.members[0].client_id == "adm-client", kd.members
            kassign = kd.members[0].member_assignment
            assert sorted(p for t, ps in kassign.assignment for p in ps) == list(range(partitions)), kassign
            ko = ka.list_consumer_group_offsets(group)
            assert {tp.partition: om.offset for tp, om in ko.items() if tp.topic == topic} == ends, ko
        finally:
            ka.close()
    finally:
        c.close()

    try:
        # Now Empty.
        assert wait_for(lambda: group in listing({ConsumerGroupState.EMPTY}), 15), "group not Empty after close"
        d = describe_group(b.bootstrap, group)
        assert d.state == ConsumerGroupState.EMPTY and not d.members, (d.state, d.members)

        res = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 7)])],
            request_timeout=15)[group].result(20)
        assert all(tp.error is None for tp in res.topic_partitions), res.topic_partitions
        err, perr = offset_delete_v0(raw, group, topic, [2])
        assert (err, perr) == (ERR_NONE, {2: ERR_NONE}), "OffsetDelete on an Empty group: %r %r" % (err, perr)
        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                 request_timeout=15)[group].result(20)
        now = {tp.partition: tp.offset for tp in offs.topic_partitions if tp.topic == topic and tp.offset >= 0}
        assert now == {0: 5, 1: 7}, "after alter p0=5 p1=7 and OffsetDelete p2: %r" % now

        assert kafka_error_of(admin.delete_consumer_groups([group], request_timeout=15)[group]) is None
        assert group not in listing(), "deleted group still listed"
        offs = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                 request_timeout=15)[group].result(20)
        assert not [tp for tp in offs.topic_partitions if tp.offset >= 0], "offsets of a deleted group: %r" % (
            offs.topic_partitions,)
        err = kafka_error_of(admin.delete_consumer_groups([group], request_timeout=15)[group])
        assert err is not None and err.code() == KafkaError.GROUP_ID_NOT_FOUND, "second delete: %r" % (err,)
        err = kafka_error_of(admin.delete_consumer_groups([missing], request_timeout=15)[missing])
        assert err is not None and err.code() == KafkaError.GROUP_ID_NOT_FOUND, "delete unknown: %r" % (err,)
    finally:
        raw.close()
    summary("groups/admin: list (state filters) / describe / delete (NON_EMPTY_GROUP then ok) / list+alter "
            "offsets / OffsetDelete / OffsetFetch v8 x3 groups / kafka-python admin: ok")


# ---------------------------------------------------------------------------
# 8. __consumer_offsets records in Kafka's schemas.
# ---------------------------------------------------------------------------

def java_string_hash(s):
    h = 0
    data = s.encode("utf-16-be")
    for k in range(0, len(data), 2):
        h = (31 * h + ((data[k] << 8) | data[k + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def offsets_partition_for(group, partitions=OFFSETS_PARTITIONS):
    """Kafka's GroupMetadataManager.partitionFor: Utils.abs(groupId.hashCode) % partitions,
    where Utils.abs(Integer.MIN_VALUE) == 0 (this is not `hash & 0x7fffffff`)."""
    h = java_string_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def test_java_hash_partition_mapping():
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(1 << 31)  # famous Integer.MIN_VALUE hash
    assert offsets_partition_for("polygenelubricants") == 0
    # A negative hash: abs, not a mask.
    h = java_string_hash("my-group-1")
    assert offsets_partition_for("my-group-1") == abs(h) % 50


def decode_offsets_key(data):
    r = Reader(data)
    version = r.i16()
    if version in (0, 1):
        key = ("offset", r.string(), r.string(), r.i32())
    elif version == 2:
        key = ("group", r.string())
    else:
        return ("other", version), version
    assert r.remaining() == 0, "key v%d has %d trailing bytes" % (version, r.remaining())
    return key, version


def decode_offset_commit_value(data):
    r = Reader(data)
    version = r.i16()
    assert 0 <= version <= 4, "OffsetCommitValue version %d" % version
    flexible = version >= 4
    offset = r.i64()
    epoch = r.i32() if version >= 3 else -1
    metadata = r.compact_string() if flexible else r.string()
    commit_ts = r.i64()
    expire_ts = r.i64() if version == 1 else -1
    if flexible:
        r.tagged_fields()
    assert r.remaining() == 0, "OffsetCommitValue v%d has %d trailing bytes" % (version, r.remaining())
    return dict(version=version, offset=offset, leader_epoch=epoch, metadata=metadata, commit_ts=commit_ts,
                expire_ts=expire_ts)


def decode_group_value(data):
    r = Reader(data)
    version = r.i16()
    assert 0 <= version <= 4, "GroupMetadataValue version %d" % version
    flexible = version >= 4
    s = r.compact_string if flexible else r.string

    def bts():
        if flexible:
            n = r.uvarint() - 1
            return None if n < 0 else r.raw(n)
        return r.bytes_()

    out = dict(version=version, protocol_type=s(), generation=r.i32(), protocol=s(), leader=s())
    out["state_ts"] = r.i64() if version >= 2 else -1
    n = (r.uvarint() - 1) if flexible else r.i32()
    members = []
    for _ in range(n):
        m = dict(member_id=s())
        m["instance_id"] = s() if version >= 3 else None
        m["client_id"] = s()
        m["client_host"] = s()
        m["rebalance_timeout"] = r.i32() if version >= 1 else -1
        m["session_timeout"] = r.i32()
        m["subscription"] = bts()
        m["assignment"] = bts()
        if flexible:
            r.tagged_fields()
        members.append(m)
    out["members"] = members
    if flexible:
        r.tagged_fields()
    assert r.remaining() == 0, "GroupMetadataValue v%d has %d trailing bytes" % (version, r.remaining())
    return out


def read_offsets_partition(broker, partition):
    """All records of a __consumer_offsets partition from its .log segments: [(offset, key, value)]."""
    d = os.path.join(broker.data_dir, "%s-%d" % (OFFSETS_TOPIC, partition))
    if not os.path.isdir(d):
        return None
    out = []
    for name in sorted(f for f in os.listdir(d) if f.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if data.endswith(b"\x00" * 64):
            data = data.rstrip(b"\x00")
        for batch in helpers.parse_batches(data, allow_partial_tail=True):
            assert batch.crc_ok, "%s/%s: batch at %d has a bad CRC" % (d, name, batch.base_offset)
            if batch.attributes & 0x20:  # control batch
                continue
            for rec in helpers.batch_records(batch):
                out.append((rec.offset, rec.key, rec.value))
    return out


def test_consumer_offsets_records_on_disk(broker_factory):
    b = broker_factory(overrides=GROUP_OVERRIDES, name="offsets-topic")
    partitions = 3
    topic = helpers.unique_topic("grp-disk")
    # Group ids with a negative Java hash, where Utils.abs and "& 0x7fffffff" pick different partitions.
    group = None
    for _ in range(1000):
        g = unique_group("g-disk")
        h = java_string_hash(g)
        if h < 0 and (abs(h) % 50) != ((h & 0x7FFFFFFF) % 50):
            group = g
            break
    assert group is not None
    legacy = unique_group("g-disk-v2")
    create_topic(b.bootstrap, topic, partitions)
    produce_keyed(b.bootstrap, topic, 90, "disk")
    ends = end_offsets(b.bootstrap, topic, partitions)

    t0 = helpers.now_ms()
    c = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "disk-client",
                                   "partition.assignment.strategy": "range", "enable.partition.eof": False})
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.time() + 30
        while got < 90 and time.time() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                got += 1
        expected = {p: (ends[p], "disk-meta-%d" % p) for p in range(partitions)}
        c.commit(offsets=[TopicPartition(topic, p, o, metadata=m) for p, (o, m) in expected.items()],
                 asynchronous=False)
        member_id = c.memberid()
    finally:
        c.close()
    # OffsetCommit v2 with an explicit retention: Kafka stores value version 1 with an expire timestamp.
    raw = RawConn(b.addr)
    try:
        assert find_coordinator(raw, legacy)[0] == ERR_NONE
        errs = offset_commit_v2(raw, legacy, topic, {0: (3, "legacy")}, retention_ms=86400000)
        assert errs == {0: ERR_NONE}, errs
    finally:
        raw.close()
    t1 = helpers.now_ms()

    md = helpers.metadata_v4(b.addr, [OFFSETS_TOPIC], False)
    t = md.topics.get(OFFSETS_TOPIC)
    assert t is not None and t.error_code == 0, "metadata for %s: %r" % (OFFSETS_TOPIC, t)
    assert len(t.partitions) == OFFSETS_PARTITIONS and t.is_internal, (len(t.partitions), t.is_internal)
    from confluent_kafka.admin import ConfigResource
    res = ConfigResource(ConfigResource.Type.TOPIC, OFFSETS_TOPIC)
    describe_configs_supported = 32 in helpers.api_versions_addr(b.addr, 0).apis
    if describe_configs_supported:
        adm = ck_admin(b.bootstrap)  # keep a reference until the future resolves
        cfg = adm.describe_configs([res], request_timeout=15)[res].result(20)
        assert cfg["cleanup.policy"].value == "compact", cfg["cleanup.policy"].value

    part = offsets_partition_for(group)
    masked = (java_string_hash(group) & 0x7FFFFFFF) % OFFSETS_PARTITIONS

    def records_for(g, p):
        recs = read_offsets_partition(b, p) or []
        out = []
        for off, k, v in recs:
            key, kver = decode_offsets_key(k)
            if key[0] in ("offset", "group") and key[1] == g:
                out.append((off, key, kver, v))
        return out

    def complete():
        recs = records_for(group, part)
        latest = {}
        for _, key, _, v in recs:
            if key[0] == "offset" and key[2] == topic and v is not None:
                latest[key[3]] = decode_offset_commit_value(v)
        return len(latest) == partitions and all(latest[p]["offset"] == expected[p][0] for p in latest)

    def group_emptied():
        last = None
        for _, key, _, v in records_for(group, part):
            if key[0] == "group":
                last = v
        return last is not None and decode_group_value(last)["members"] == []

    wait_for(lambda: complete() and group_emptied(), 10, 0.2)
    assert wait_for(complete, 1, 0.2), "committed offsets of %s not found in %s-%d (Utils.abs partition; the " \
        "masked formula would give %d); records there: %r" % (group, OFFSETS_TOPIC, part, masked,
                                                               records_for(group, part)[:10])
    recs = records_for(group, part)
    latest = {}
    group_values = []
    versions = Counter()
    for off, key, kver, v in recs:
        if key[0] == "offset":
            assert kver in (0, 1), kver
            assert key[2] == topic, key
            if v is not None:
                val = decode_offset_commit_value(v)
                versions["offset-v%d" % val["version"]] += 1
                latest[key[3]] = val
        else:
            assert kver == 2, kver
            if v is not None:
                gv = decode_group_value(v)
                versions["group-v%d" % gv["version"]] += 1
                group_values.append(gv)
    for p, (o, m) in expected.items():
        val = latest[p]
        # confluent-kafka sends metadata as a C string including its NUL
        # (metadata_size = strlen + 1); the broker must store the bytes sent.
        sent = m + "\x00"
        assert (val["offset"], val["metadata"]) == (o, sent), "p%d stored %r, committed %r" % (p, val, (o, sent))
        assert t0 - 1000 <= val["commit_ts"] <= t1 + 1000, "p%d commit timestamp %d not in [%d, %d]" % (
            p, val["commit_ts"], t0, t1)
        assert val["expire_ts"] == -1 and val["version"] in (1, 2, 3, 4) and val["leader_epoch"] >= -1, val
    assert group_values, "no GroupMetadata (key version 2) record for %s" % group
    gv = group_values[-1]
    assert gv["protocol_type"] == "consumer" and gv["generation"] >= 1, gv
    # After the member closed the group is Empty: the last group record has no members.
    members_seen = [m for g2 in group_values for m in g2["members"]]
    assert any(m["member_id"] == member_id and m["client_id"] == "disk-client" for m in members_seen), \
        "no group record lists member %s: %r" % (member_id, [(m["member_id"], m["client_id"]) for m in members_seen])
    assert any(g2["protocol"] == "range" and g2["leader"] == member_id for g2 in group_values), group_values
    # Kafka: when the last member leaves, the next generation is Empty and stored
    # (generation + 1, no protocol, no leader, no members).
    assert group_values[-1]["members"] == [], "last group record (10s after the member left) still lists " \
        "members: %r" % group_values[-1]
    assert group_values[-1]["generation"] > max(g2["generation"] for g2 in group_values if g2["members"]), \
        "the empty group's record should carry the next generation: %r" % [
            (g2["generation"], len(g2["members"])) for g2 in group_values]
    # Nothing of this group anywhere else.
    for p in range(OFFSETS_PARTITIONS):
        if p != part:
            assert not records_for(group, p), "records of %s found in %s-%d, expected only in %d" % (
                group, OFFSETS_TOPIC, p, part)

    lpart = offsets_partition_for(legacy)
    lrecs = [(key, decode_offset_commit_value(v)) for _, key, _, v in records_for(legacy, lpart)
             if key[0] == "offset" and v is not None]
    assert lrecs, "legacy commit not in %s-%d" % (OFFSETS_TOPIC, lpart)
    lval = lrecs[-1][1]
    assert lval["version"] == 1 and lval["offset"] == 3 and lval["metadata"] == "legacy", lval
    assert abs(lval["expire_ts"] - lval["commit_ts"] - 86400000) <= 1000, lval

    # DeleteGroups writes tombstones for the offsets and the group.
    admin = ck_admin(b.bootstrap)
    admin.delete_consumer_groups([group], request_timeout=15)[group].result(20)

    def tombstoned():
        recs = records_for(group, part)
        last = {}
        for off, key, _, v in recs:
            last[key] = v
        keys = [k for k in last if k[0] == "offset"] + [k for k in last if k[0] == "group"]
        return keys and all(last[k] is None for k in keys)

    assert wait_for(tombstoned, 10, 0.2), "after DeleteGroups the latest records of %s are not all tombstones" % group
    summary("groups/__consumer_offsets: group %s -> partition %d (masked formula: %d); %d records, versions %r; "
            "legacy v1 value with expire; tombstones after delete; cleanup.policy %s"
            % (group, part, masked, len(recs), dict(versions),
               "checked (compact)" if describe_configs_supported else "not checked (no DescribeConfigs)"))


# ---------------------------------------------------------------------------
# 9. KIP-848 consumer protocol (ConsumerGroupHeartbeat / ConsumerGroupDescribe)
#    driven by librdkafka with group.protocol=consumer.
# ---------------------------------------------------------------------------

KIP848_SESSION_MS = 6000
KIP848_OVERRIDES = dict(GROUP_OVERRIDES, **{"group.consumer.session.timeout.ms": KIP848_SESSION_MS,
                                            "group.consumer.heartbeat.interval.ms": 500})


@pytest.fixture(scope="module")
def kip848_broker():
    """A gregor with a short KIP-848 session timeout and heartbeat interval."""
    yield from helpers.serve_broker(KIP848_OVERRIDES, name="kip848-broker")


class IncMember:
    """An in-process confluent consumer with group.protocol=consumer; tracks the
    partitions it owns from the incremental assign / revoke / lost callbacks."""

    def __init__(self, bootstrap, group, name, topic, assignor=None, revoke_delay=0.0, **extra):
        self.name = name
        self.revoke_delay = revoke_delay
        self.owned = set()
        self.log = []  # (time, kind, [partitions])
        conf = {"group.id": group, "client.id": name, "group.protocol": "consumer",
                "enable.partition.eof": False}
        if assignor:
            conf["group.remote.assignor"] = assignor
        conf.update(extra)
        self.c = ck_consumer(bootstrap, **conf)
        self.c.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost)

    def _assign(self, c, ps):
        got = set(p.partition for p in ps)
        self.log.append((time.time(), "assign", sorted(got), sorted(got & self.owned)))
        self.owned |= got

    def _revoke(self, c, ps):
        if self.revoke_delay:
            time.sleep(self.revoke_delay)  # an application finishing its work before giving partitions up
        got = set(p.partition for p in ps)
        self.log.append((time.time(), "revoke", sorted(got), sorted(got - self.owned)))
        self.owned -= got

    def _lost(self, c, ps):
        got = set(p.partition for p in ps)
        self.log.append((time.time(), "lost", sorted(got), sorted(got - self.owned)))
        self.owned -= got

    def last_callback(self):
        return max([e[0] for e in self.log] or [0.0])

    def close(self):
        self.c.close()


def settle_inc(members, want_sizes, partitions, timeout, quiet=2.0):
    """Poll members until their owned sizes are want_sizes, covering every partition
    exactly once, with no callback for `quiet` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in members:
            m.c.poll(0.05)
        sizes = sorted(len(m.owned) for m in members)
        union = set().union(*(m.owned for m in members))
        total = sum(len(m.owned) for m in members)
        if sizes == sorted(want_sizes) and len(union) == partitions == total:
            if time.time() - max(m.last_callback() for m in members) > quiet:
                return True
    return False


def cb_summary(members, since=0.0):
    return {m.name: [(round(t - since, 2), kind, ps) for (t, kind, ps, _) in m.log if t > since] for m in members}


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_kip848_three_consumers(kip848_broker, assignor):
    b = kip848_broker
    partitions = 6
    n = 60000
    topic = helpers.unique_topic("k848-three")
    group = unique_group("g848-three")
    create_topic(b.bootstrap, topic, partitions)
    members = []
    seen = defaultdict(list)  # (p, off) -> [member names]
    commit_errors = []
    commits = 0
    try:
        t0 = time.time()
        for k in range(3):
            members.append(IncMember(b.bootstrap, group, "k848-%s-%d" % (assignor, k), topic, assignor=assignor))
        assert settle_inc(members, [2, 2, 2], partitions, 30), \
            "3 consumer-protocol members did not settle at 2+2+2 within 30s: %r; callbacks %r" % (
                {m.name: sorted(m.owned) for m in members}, cb_summary(members, t0))
        t_stable = time.time()
        stable = {m.name: sorted(m.owned) for m in members}
        delivered = produce_keyed(b.bootstrap, topic, n, "k848")
        assert len(Counter(p for (p, _) in delivered)) == partitions

        def consume_round(timeout):
            nonlocal commits
            for m in members:
                hi = {}
                for msg in m.c.consume(num_messages=5000, timeout=timeout):
                    if msg.error() is not None:
                        raise KafkaException(msg.error())
                    key = (msg.partition(), msg.offset())
                    seen[key].append(m.name)
                    assert (msg.key(), msg.value()) == delivered.get(key), "%s: p%d@%d differs from produced" % (
                        m.name, key[0], key[1])
                    hi[msg.partition()] = max(hi.get(msg.partition(), -1), msg.offset())
                if hi:
                    try:
                        m.c.commit(offsets=[TopicPartition(topic, p, o + 1) for p, o in hi.items()],
                                   asynchronous=False)
                        commits += 1
                    except KafkaException as e:
                        commit_errors.append((m.name, str(e)))

        deadline = time.time() + 45
        while len(seen) < n and time.time() < deadline:
            consume_round(0.2)
        for _ in range(3):
            consume_round(0.1)
        t_done = time.time()
        later = cb_summary(members, t_stable)
        ends = end_offsets(b.bootstrap, topic, partitions)
        committed = committed_offsets(b.bootstrap, group, topic, partitions)
        d = describe_group(b.bootstrap, group)
    finally:
        for m in members:
            m.close()

    dups = {k: v for k, v in seen.items() if len(v) > 1}
    missing = [k for k in delivered if k not in seen]
    extra = [k for k in seen if k not in delivered]
    rebalanced = any(later.values())
    summary("groups/kip848-%s: 3 members, %d partitions, settled in %.1fs at %r; consumed=%d distinct=%d "
            "duplicates=%d commits=%d in %.1fs; callbacks after stable %r; describe: state %s type %s assignor %s"
            % (assignor, partitions, t_stable - t0, stable, sum(len(v) for v in seen.values()), len(seen),
               len(dups), commits, t_done - t_stable, later, d.state, d.type, d.partition_assignor))
    assert not missing, "%d produced messages never consumed, e.g. %r (%d consumed)" % (
        len(missing), sorted(missing)[:5], len(seen))
    assert not extra, "consumed offsets never produced: %r" % sorted(extra)[:5]
    assert committed == ends, "committed %r, end offsets %r" % (committed, ends)
    if assignor == "range":
        assert sorted(tuple(v) for v in stable.values()) == [(0, 1), (2, 3), (4, 5)], \
            "server-side range assignment of 6 partitions over 3 members: %r" % stable
    assert not rebalanced, "callbacks after the group settled (nothing joined or left): %r" % later
    assert not dups, "%d duplicates without a reassignment, e.g. %r" % (len(dups), sorted(dups.items())[:5])
    assert not commit_errors, commit_errors[:5]
    for (p, _), who in seen.items():
        assert all(p in stable[nm] for nm in who), "p%d consumed by %r, assignment %r" % (p, who, stable)
    assert d.state == ConsumerGroupState.STABLE and len(d.members) == 3, (d.state, d.members)
    assert d.partition_assignor == assignor, "ConsumerGroupDescribe assignor %r" % d.partition_assignor
    described = {m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in d.members}
    assert described == stable, "described assignment %r, callbacks say %r" % (described, stable)


def test_kip848_member_killed_mid_stream(kip848_broker, tmp_path):
    b = kip848_broker
    partitions = 6
    n = 30000
    topic = helpers.unique_topic("k848-kill")
    group = unique_group("g848-kill")
    create_topic(b.bootstrap, topic, partitions)
    go = os.path.join(str(tmp_path), "go")
    stop = os.path.join(str(tmp_path), "stop")
    open(go, "w").close()
    subs = []
    try:
        for k in range(3):
            subs.append(SubConsumer(tmp_path, "kk%d" % k, b.bootstrap, topic, group, batch=100, sleep=0.1,
                                    go=go, stop=stop, protocol="consumer"))

        def stable():
            a = [s.owned() for s in subs]
            return sorted(len(x) for x in a) == [2, 2, 2] and len(set().union(*a)) == partitions

        assert wait_for(stable, 30, 0.2), "3 consumer-protocol subprocesses not at 2+2+2 within 30s: %r; " \
            "stderr %s" % ([s.owned() for s in subs], [s.stderr_tail() for s in subs])
        time.sleep(1.0)
        assert stable(), "assignment still moving: %r" % [s.owned() for s in subs]
        victim, survivors = subs[0], subs[1:]
        victim_parts = victim.owned()
        delivered = produce_keyed(b.bootstrap, topic, n, "k848kill")
        assert wait_for(lambda: len(parse_messages(victim.events())) >= 1000, 30, 0.05), \
            "victim consumed only %d messages in 30s" % len(parse_messages(victim.events()))
        t_kill = time.time()
        victim.kill9()
        victim_msgs = parse_messages(victim.events())
        consumed_at_kill = len(set((p, o) for s in subs for (p, o, _) in parse_messages(s.events())))
        assert consumed_at_kill < n, "everything consumed before the kill"
        committed_at_kill = committed_offsets(b.bootstrap, group, topic, partitions)
        victim_max = {}
        for p, o, _ in victim_msgs:
            victim_max[p] = max(victim_max.get(p, -1), o)

        def taken_over():
            owned_now = set().union(*(s.owned() for s in survivors))
            if victim_parts <= owned_now:
                return max(float(ev[1]) for s in survivors for ev in s.events() if ev[0] == "A")
            return None

        limit = KIP848_SESSION_MS / 1000 + 5
        t_takeover = wait_for(taken_over, limit + 10, 0.1)
        assert t_takeover, "the victim's partitions %r not all owned by survivors %.0fs after kill -9: %r" % (
            sorted(victim_parts), limit + 10, {s.name: sorted(s.owned()) for s in survivors})

        def all_consumed():
            got = set()
            for s in subs:
                got.update((p, o) for (p, o, _) in parse_messages(s.events()))
            return len(got) >= n

        assert wait_for(all_consumed, 45, 0.2), "not every message consumed 45s after the takeover; " \
            "committed %r; events %r" % (committed_offsets(b.bootstrap, group, topic, partitions),
                                         {s.name: [e for e in s.events() if e[0] not in "MC"] for s in subs})
        t_stop = time.time()
        open(stop, "w").close()
        for s in survivors:
            s.proc.wait(30)
    finally:
        for s in subs:
            s.close()

    takeover_s = t_takeover - t_kill
    counts = Counter()
    for s in subs:
        counts.update((p, o) for (p, o, _) in parse_messages(s.events()))
    dups = {k: c for k, c in counts.items() if c > 1}
    uncommitted = {p: (committed_at_kill[p], victim_max.get(p, -1)) for p in victim_parts}
    summary("groups/kip848-kill9: produced=%d distinct=%d duplicates=%d; victim had %r; takeover %.1fs after kill "
            "(broker session %dms); survivor callbacks %r; victim uncommitted %r"
            % (n, len(counts), sum(c - 1 for c in dups.values()), sorted(victim_parts), takeover_s,
               KIP848_SESSION_MS, {s.name: [e[0] + e[2] if len(e) > 2 else e[0] for e in s.events()
                                           if e[0] in "ARL"] for s in survivors}, uncommitted))
    assert not [k for k in delivered if k not in counts]
    assert takeover_s <= limit, "victim's partitions reassigned %.1fs after kill -9 (session %dms)" % (
        takeover_s, KIP848_SESSION_MS)
    for s in survivors:
        ev = s.events()
        assert ev and ev[-1][0] == "X", "%s did not exit cleanly: %r %s" % (s.name, ev[-3:], s.stderr_tail())
        assert not [e for e in ev if e[0] == "E"], "%s logged errors: %r" % (s.name, [e for e in ev if e[0] == "E"][:5])
        assert not [e for e in ev if e[0] in "RL" and t_kill < float(e[1]) < t_stop], \
            "%s had partitions revoked/lost after the kill: %r" % (s.name, [e for e in ev if e[0] in "RL"])
    for p in sorted(victim_parts):
        after = [o for s in survivors for (pp, o, t) in parse_messages(s.events()) if pp == p and t > t_kill]
        total_p = sum(1 for (pp, _) in delivered if pp == p)
        start = committed_at_kill[p] if committed_at_kill[p] >= 0 else 0
        if start < total_p:
            assert after and min(after) == start, "p%d: committed %d at kill, survivors resumed at %r" % (
                p, committed_at_kill[p], min(after) if after else None)
    for (p, o), c in dups.items():
        assert p in victim_parts and c == 2 and committed_at_kill[p] <= o <= victim_max.get(p, -1), \
            "p%d@%d consumed %d times, outside the victim's uncommitted range %r" % (p, o, c, uncommitted)


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_kip848_third_member_incremental(kip848_broker, assignor):
    b = kip848_broker
    partitions = 6
    topic = helpers.unique_topic("k848-inc")
    group = unique_group("g848-inc")
    create_topic(b.bootstrap, topic, partitions)
    produce_keyed(b.bootstrap, topic, 600, "k848inc")
    members = {}
    try:
        t0 = time.time()
        # a and b take 1s in on_revoke (longer than the broker's 500ms heartbeat
        # interval, far below librdkafka's rebalance timeout = max.poll.interval.ms).
        for nm in ("a", "b"):
            members[nm] = IncMember(b.bootstrap, group, nm, topic, assignor=assignor, revoke_delay=1.0)
        ab = [members["a"], members["b"]]
        assert settle_inc(ab, [3, 3], partitions, 12), "a+b not at 3+3 within 12s: %r" % cb_summary(ab, t0)
        before = {nm: set(m.owned) for nm, m in members.items()}
        t_join = time.time()
        members["c"] = IncMember(b.bootstrap, group, "c", topic, assignor=assignor)
        allm = list(members.values())
        assert settle_inc(allm, [2, 2, 2], partitions, 12), "a+b+c not at 2+2+2 within 12s: %r" % cb_summary(
            allm, t0)
        after = {nm: set(m.owned) for nm, m in members.items()}
        phase2 = cb_summary(allm, t_join)
        anomalies = [(m.name, e) for m in allm for e in m.log if e[3]]
    finally:
        for m in members.values():
            m.close()

    summary("groups/kip848-incremental-%s: before %r after %r; callbacks after c joined %r"
            % (assignor, {k: sorted(v) for k, v in before.items()}, {k: sorted(v) for k, v in after.items()},
               phase2))
    assert not anomalies, "assign of owned / revoke of unowned partitions: %r" % anomalies
    for nm in ("a", "b"):
        revoked, assigned = set(), set()
        for _, kind, ps in phase2[nm]:
            assert kind != "lost", "%s lost %r (should be revoked incrementally)" % (nm, ps)
            (revoked if kind == "revoke" else assigned).update(ps)
        kept = before[nm] & after[nm]
        assert not (revoked & kept), "%s had %r revoked though it keeps them" % (nm, sorted(revoked & kept))
        assert revoked == before[nm] - after[nm], "%s revoked %r, moved away %r" % (
            nm, sorted(revoked), sorted(before[nm] - after[nm]))
        assert assigned == after[nm] - before[nm], "%s assigned %r, gained %r" % (
            nm, sorted(assigned), sorted(after[nm] - before[nm]))
        if assignor == "uniform":
            assert not assigned and len(revoked) == 1, \
                "uniform (sticky) 3+3 -> 2+2+2 should move exactly one partition from each of a, b: %s " \
                "revoked %r assigned %r" % (nm, sorted(revoked), sorted(assigned))
    if assignor == "uniform":
        assert after["c"] == (before["a"] - after["a"]) | (before["b"] - after["b"])
    assert [kind for _, kind, _ in phase2["c"]] == ["assign"] * len(phase2["c"]), phase2["c"]


def test_kip848_static_member_restart(kip848_broker, tmp_path):
    b = kip848_broker
    partitions = 4
    topic = helpers.unique_topic("k848-static")
    group = unique_group("g848-static")
    instance = "k848-static-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic, partitions)
    delivered = produce_keyed(b.bootstrap, topic, 4000, "k848st")
    open(os.path.join(str(tmp_path), "go"), "w").close()
    other = IncMember(b.bootstrap, group, "k848-other", topic)
    subs = []

    def poll_until(pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            other.c.poll(0.1)
            if pred():
                return True
        return pred()

    try:
        assert poll_until(lambda: len(other.owned) == partitions, 20), "first member: %r" % other.log
        a = SubConsumer(tmp_path, "k848-static-a", b.bootstrap, topic, group, instance=instance, batch=50,
                        sleep=0.2, protocol="consumer")
        subs.append(a)
        assert poll_until(lambda: len(other.owned) == 2 and a.owned() == set(range(partitions)) - other.owned,
                          30), "other %r static %r; stderr %s" % (other.owned, a.owned(), a.stderr_tail())
        poll_until(lambda: False, 1.5)
        d1 = describe_group(b.bootstrap, group)
        n_cb = len(other.log)
        other_parts = set(other.owned)
        static_parts = a.owned()
        poll_until(lambda: len(parse_messages(a.events())) >= 100, 20)

        t_kill = time.time()
        a.kill9()
        committed_at_kill = committed_offsets(b.bootstrap, group, topic, partitions)
        a2 = SubConsumer(tmp_path, "k848-static-a2", b.bootstrap, topic, group, instance=instance, batch=50,
                         sleep=0.0, protocol="consumer")
        subs.append(a2)
        assert poll_until(lambda: a2.owned(), 20), "restarted static member got nothing: %r %s" % (
            a2.events()[-5:], a2.stderr_tail())
        t_a2 = time.time()
        # Past the killed incarnation's session timeout: still nothing moves.
        poll_until(lambda: False, max(0.0, t_kill + KIP848_SESSION_MS / 1000 + 3 - time.time()))
        d2 = describe_group(b.bootstrap, group)
        new_cbs = other.log[n_cb:]
        a2_owned = a2.owned()
        a2_events = a2.events()
        final_owned = set(other.owned)
    finally:
        other.close()
        for s in subs:
            s.close()

    def members(d):
        return {m.member_id: (m.group_instance_id, m.client_id,
                              sorted(tp.partition for tp in m.assignment.topic_partitions)) for m in d.members}

    m1, m2 = members(d1), members(d2)
    summary("groups/kip848-static: restarted %.1fs after kill -9 (session %dms); other member callbacks after "
            "restart %r; members before %r after %r" % (t_a2 - t_kill, KIP848_SESSION_MS, new_cbs, m1, m2))
    assert not new_cbs, "the other member saw callbacks after the static member restarted: %r" % new_cbs
    assert final_owned == other_parts, "other member owns %r, had %r" % (final_owned, other_parts)
    assert a2_owned == static_parts, "restarted static member owns %r, the old one had %r" % (
        sorted(a2_owned), sorted(static_parts))
    assert [e[0] for e in a2_events if e[0] in "ARL"] == ["A"], \
        "restarted static member's callbacks: %r" % [e for e in a2_events if e[0] in "ARL"]
    assert d2.state == ConsumerGroupState.STABLE and len(m2) == 2, (d2.state, m2)
    static_after = [v for v in m2.values() if v[0] == instance]
    assert len(static_after) == 1 and static_after[0][1:] == ("k848-static-a2", sorted(static_parts)), m2
    for p in sorted(static_parts):
        first = [o for (pp, o, _) in parse_messages(a2_events) if pp == p]
        total_p = sum(1 for (pp, _) in delivered if pp == p)
        start = committed_at_kill[p] if committed_at_kill[p] >= 0 else 0
        if start < total_p:
            assert first and first[0] == start, "p%d: committed %d at kill, restarted member started at %r" % (
                p, committed_at_kill[p], first[:1])


def test_kip848_offsets_survive_restart(broker_factory):
    b = broker_factory(overrides=KIP848_OVERRIDES, name="kip848-restart")
    partitions = 3
    topic = helpers.unique_topic("k848-rs")
    group = unique_group("g848-rs")
    create_topic(b.bootstrap, topic, partitions)
    first = produce_keyed(b.bootstrap, topic, 300, "k848rs")
    m = IncMember(b.bootstrap, group, "k848-rs", topic)
    got = []

    def consume_until(count, timeout):
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            for msg in m.c.consume(500, 0.2):
                if msg.error() is not None:
                    got.append(("error", str(msg.error())))
                    continue
                got.append((msg.partition(), msg.offset()))

    try:
        consume_until(300, 30)
        assert sorted(got) == sorted(first), "first pass: %d records" % len(got)
        ends = end_offsets(b.bootstrap, topic, partitions)
        m.c.commit(offsets=[TopicPartition(topic, p, o, metadata="k848-%d" % p) for p, o in ends.items()],
                   asynchronous=False)
        want = {p: (o, "k848-%d" % p) for p, o in ends.items()}
        assert committed_offsets(b.bootstrap, group, topic, partitions, with_metadata=True) == want
        member_id = m.c.memberid()
        d_before = describe_group(b.bootstrap, group)
        b.stop()
        b.start()
        after_term = committed_offsets(b.bootstrap, group, topic, partitions, with_metadata=True)
        # Membership is persisted too: right after the restart, before the member has
        # heartbeated again, the group already has it with its partitions.
        d_restarted = describe_group(b.bootstrap, group)
        # The member keeps running across the restart, with the same id and partitions.
        second = produce_keyed(b.bootstrap, topic, 90, "k848rs2", start=300)
        consume_until(390, 40)
        t_second = time.time()
        second_got = got[300:]
        m.c.commit(asynchronous=False)
        ends2 = end_offsets(b.bootstrap, topic, partitions)
        b.kill9()
        b.start()
        after_kill = committed_offsets(b.bootstrap, group, topic, partitions)
        d = describe_group(b.bootstrap, group)
        log = cb_summary([m])
        member_id_end = m.c.memberid()
    finally:
        m.close()
    # A fresh member of the group starts at the committed offsets: nothing left to read.
    third = produce_keyed(b.bootstrap, topic, 30, "k848rs3", start=390)
    m2 = IncMember(b.bootstrap, group, "k848-rs-2", topic)
    got3 = []
    try:
        deadline = time.time() + 30
        while len(got3) < 30 and time.time() < deadline:
            got3.extend((x.partition(), x.offset()) for x in m2.c.consume(500, 0.2) if x.error() is None)
        for _ in range(5):
            got3.extend((x.partition(), x.offset()) for x in m2.c.consume(500, 0.2) if x.error() is None)
    finally:
        m2.close()
    def members(desc):
        return {x.member_id: sorted(tp.partition for tp in x.assignment.topic_partitions) for x in desc.members}

    summary("groups/kip848-restart: offsets, metadata and membership (member %s, %d member) kept across "
            "SIGTERM and kill -9 restarts; the live member read %d records after the restart (%d new produced); "
            "callbacks %r; describe after kill -9: %s with %d members"
            % (member_id[:8], len(members(d)), len(second_got), len(second), log, d.state, len(d.members)))
    assert members(d_before) == {member_id: list(range(partitions))}, members(d_before)
    assert members(d_restarted) == members(d_before), "membership after SIGTERM restart: %r, before %r" % (
        members(d_restarted), members(d_before))
    assert members(d) == members(d_before), "membership after kill -9 restart: %r" % members(d)
    assert member_id_end == member_id, "member id changed across restarts: %s -> %s" % (member_id, member_id_end)
    assert [e[1] for e in log["k848-rs"]] == ["assign"], "callbacks: %r (no revoke/lost across restarts)" % log
    assert after_term == want, "after SIGTERM restart: %r, committed %r" % (after_term, want)
    assert sorted(second_got) == sorted(second), "live member after the restart read %d records (%d errors, " \
        "%d old), expected the %d new ones" % (len(second_got), sum(1 for g in second_got if g[0] == "error"),
                                               sum(1 for g in second_got if g in first), len(second))
    assert after_kill == ends2, "after kill -9 restart: committed %r, end offsets %r" % (after_kill, ends2)
    assert sorted(got3) == sorted(third), "a new member resumed with %d records (%d old), expected %d" % (
        len(got3), len(set(got3) - set(third)), len(third))


def test_kip848_and_classic_groups_side_by_side(kip848_broker):
    from confluent_kafka import ConsumerGroupType
    b = kip848_broker
    partitions = 2
    topic = helpers.unique_topic("k848-mixed")
    g_classic = unique_group("g-mixed-classic")
    g_consumer = unique_group("g-mixed-consumer")
    create_topic(b.bootstrap, topic, partitions)
    delivered = produce_keyed(b.bootstrap, topic, 400, "mixed")
    classic = ck_consumer(b.bootstrap, **{"group.id": g_classic, "client.id": "mixed-classic",
                                         "partition.assignment.strategy": "range", "enable.partition.eof": False,
                                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
    modern = IncMember(b.bootstrap, g_consumer, "mixed-consumer", topic)
    got = {"classic": set(), "consumer": set()}
    try:
        classic.subscribe([topic])
        deadline = time.time() + 30
        while (len(got["classic"]) < 400 or len(got["consumer"]) < 400) and time.time() < deadline:
            for nm, c in (("classic", classic), ("consumer", modern.c)):
                for msg in c.consume(500, 0.1):
                    assert msg.error() is None, (nm, msg.error())
                    got[nm].add((msg.partition(), msg.offset()))
        classic.commit(asynchronous=False)
        modern.c.commit(asynchronous=False)
        admin = ck_admin(b.bootstrap)
        listed = admin.list_consumer_groups(request_timeout=15).result(20)
        listed_typed = admin.list_consumer_groups(request_timeout=15,
                                                  types={ConsumerGroupType.CONSUMER}).result(20)
        descs = admin.describe_consumer_groups([g_classic, g_consumer], request_timeout=15)
        dc, dm = descs[g_classic].result(20), descs[g_consumer].result(20)
        classic_id, modern_id = classic.memberid(), modern.c.memberid()
    finally:
        classic.close()
        modern.close()
    ends = end_offsets(b.bootstrap, topic, partitions)
    assert got["classic"] == set(delivered) and got["consumer"] == set(delivered), \
        "classic read %d, consumer-protocol read %d of %d" % (len(got["classic"]), len(got["consumer"]),
                                                              len(delivered))
    assert committed_offsets(b.bootstrap, g_classic, topic, partitions) == ends
    assert committed_offsets(b.bootstrap, g_consumer, topic, partitions) == ends
    byid = {g.group_id: g for g in listed.valid}
    summary("groups/kip848-mixed: ListGroups %r; typed filter CONSUMER %r; describe classic (%s, %s, %s, %d "
            "members) consumer (%s, %s, %s, %d members)"
            % ({g: (byid[g].type, byid[g].state) for g in (g_classic, g_consumer) if g in byid},
               sorted(g.group_id for g in listed_typed.valid if g.group_id in (g_classic, g_consumer)),
               dc.state, dc.type, dc.partition_assignor, len(dc.members), dm.state, dm.type,
               dm.partition_assignor, len(dm.members)))
    assert not listed.errors, listed.errors
    assert g_classic in byid and g_consumer in byid, "ListGroups: %r" % sorted(byid)
    assert byid[g_classic].type == ConsumerGroupType.CLASSIC, byid[g_classic].type
    assert byid[g_consumer].type == ConsumerGroupType.CONSUMER, byid[g_consumer].type
    assert byid[g_classic].state == ConsumerGroupState.STABLE and byid[g_consumer].state == ConsumerGroupState.STABLE
    assert not byid[g_consumer].is_simple_consumer_group
    typed = set(g.group_id for g in listed_typed.valid)
    assert g_consumer in typed and g_classic not in typed, "ListGroups types=[consumer]: %r" % sorted(typed)
    assert dc.type == ConsumerGroupType.CLASSIC and dc.state == ConsumerGroupState.STABLE, (dc.type, dc.state)
    assert dc.partition_assignor == "range" and [m.member_id for m in dc.members] == [classic_id], dc
    assert dm.type == ConsumerGroupType.CONSUMER and dm.state == ConsumerGroupState.STABLE, (dm.type, dm.state)
    assert dm.partition_assignor == "uniform" and not dm.is_simple_consumer_group, dm
    assert len(dm.members) == 1, dm.members
    mem = dm.members[0]
    assert mem.member_id == modern_id and mem.client_id == "mixed-consumer" and mem.host, mem
    assert sorted((tp.topic, tp.partition) for tp in mem.assignment.topic_partitions) == \
        [(topic, p) for p in range(partitions)], mem.assignment.topic_partitions


API_CONSUMER_GROUP_HEARTBEAT = 68


def cg_heartbeat_v0(conn, group, member_id, epoch, rebalance_ms=-1, topics=None, owned=None, instance=None,
                    assignor=None):
    """ConsumerGroupHeartbeat v0 (flexible); owned = {topic_id(16 bytes): [partitions]} or None ->
    (error, message, member_id, epoch, interval, assignment {topic_id: [partitions]} or None)."""
    body = (compact_string(group) + compact_string(member_id) + i32(epoch) + compact_string(instance)
            + compact_string(None) + i32(rebalance_ms))
    body += uvarint(0) if topics is None else uvarint(len(topics) + 1) + b"".join(compact_string(t) for t in topics)
    body += compact_string(assignor)
    if owned is None:
        body += uvarint(0)
    else:
        body += uvarint(len(owned) + 1) + b"".join(
            tid + uvarint(len(ps) + 1) + b"".join(i32(p) for p in ps) + uvarint(0) for tid, ps in sorted(owned.items()))
    body += uvarint(0)
    r = conn.call(API_CONSUMER_GROUP_HEARTBEAT, 0, body, flexible=True)
    r.i32()
    err, msg, mid, mepoch, interval = r.i16(), r.compact_string(), r.compact_string(), r.i32(), r.i32()
    assignment = None
    if r.i8() == 1:
        assignment = {}
        for _ in range(r.uvarint() - 1):
            tid = r.raw(16)
            assignment[tid] = [r.i32() for _ in range(r.uvarint() - 1)]
            r.tagged_fields()
        r.tagged_fields()
    r.tagged_fields()
    return err, msg, mid, mepoch, interval, assignment


@pytest.mark.parametrize("later_rebalance_ms", [-1, 60000])
def test_kip848_raw_revocation_with_unchanged_rebalance_timeout(kip848_broker, later_rebalance_ms):
    """ConsumerGroupHeartbeat: RebalanceTimeoutMs is -1 when unchanged since the
    last heartbeat (what the Java client and librdkafka send after joining).
    A member asked to revoke must get the rebalance timeout it joined with
    (60s here), not be fenced at the next tick."""
    b = kip848_broker
    topic = helpers.unique_topic("k848-raw")
    group = unique_group("g848-raw")
    create_topic(b.bootstrap, topic, 2)
    ca, cb = RawConn(b.addr), RawConn(b.addr)
    try:
        ida, idb = "raw-a-" + uuid.uuid4().hex[:8], "raw-b-" + uuid.uuid4().hex[:8]
        res = cg_heartbeat_v0(ca, group, ida, 0, 60000, [topic], {})
        assert res[0] == ERR_NONE, res
        epoch, owned = res[3], res[5]
        deadline = time.time() + 10
        while (owned is None or sum(len(v) for v in owned.values()) < 2) and time.time() < deadline:
            time.sleep(0.2)
            res = cg_heartbeat_v0(ca, group, ida, epoch, later_rebalance_ms, None, owned or {})
            assert res[0] == ERR_NONE, res
            epoch, owned = res[3], res[5] if res[5] is not None else owned
        assert owned and sum(len(v) for v in owned.values()) == 2, "a alone: %r" % (owned,)
        res = cg_heartbeat_v0(cb, group, idb, 0, 60000, [topic], {})
        assert res[0] == ERR_NONE, res
        # a is asked to give one partition up; it keeps reporting both (revocation in progress).
        revoke = None
        deadline = time.time() + 5
        while revoke is None and time.time() < deadline:
            res = cg_heartbeat_v0(ca, group, ida, epoch, later_rebalance_ms, None, owned)
            assert res[0] == ERR_NONE, "a's heartbeat after b joined: %r" % (res,)
            if res[5] is not None and sum(len(v) for v in res[5].values()) == 1:
                revoke = res
            time.sleep(0.1)
        assert revoke, "a never asked to revoke a partition"
        time.sleep(1.5)  # a few broker ticks; far below the 60s rebalance timeout and the 6s session
        res = cg_heartbeat_v0(ca, group, ida, epoch, later_rebalance_ms, None, owned)
        summary("groups/kip848-raw: later heartbeats with RebalanceTimeoutMs=%d; a's heartbeat 1.5s into its "
                "revocation: error %d (%s)" % (later_rebalance_ms, res[0], res[1]))
        assert res[0] == ERR_NONE, "member fenced 1.5s into a revocation (joined with rebalance timeout 60000, " \
            "later heartbeats RebalanceTimeoutMs=%d): error %d %r" % (later_rebalance_ms, res[0], res[1])
    finally:
        ca.close()
        cb.close()


def test_kip848_regex_subscription(kip848_broker):
    """librdkafka sends a `^`-prefixed subscription as KIP-848's SubscribedTopicRegex;
    the broker resolves it (whole-name RE2 match) and assigns only matching topics,
    including one created after the member joined."""
    b = kip848_broker
    prefix = "rx%s" % uuid.uuid4().hex[:8]
    t_a, t_b, t_other, t_late = prefix + "-orders-eu", prefix + "-orders-us", prefix + "-audit", \
        prefix + "-orders-asia"
    for t in (t_a, t_b, t_other):
        create_topic(b.bootstrap, t, 2)
    want = {}
    for t in (t_a, t_b, t_other):
        want[t] = produce_keyed(b.bootstrap, t, 100, t)
    group = unique_group("g848-regex")
    c = ck_consumer(b.bootstrap, **{"group.id": group, "client.id": "k848-regex", "group.protocol": "consumer",
                                    "enable.partition.eof": False, "topic.metadata.refresh.interval.ms": 1000})
    got = defaultdict(set)
    late_created = False
    try:
        c.subscribe(["^%s-orders-(eu|us|asia)$" % prefix])
        deadline = time.time() + 45
        while time.time() < deadline:
            for msg in c.consume(500, 0.2):
                assert msg.error() is None, msg.error()
                got[msg.topic()].add((msg.partition(), msg.offset()))
            if not late_created and len(got[t_a]) == 100 and len(got[t_b]) == 100:
                create_topic(b.bootstrap, t_late, 2)
                want[t_late] = produce_keyed(b.bootstrap, t_late, 50, t_late)
                late_created = True
            if late_created and len(got[t_late]) == 50:
                break
        assignment = sorted((tp.topic, tp.partition) for tp in c.assignment())
        d = describe_group(b.bootstrap, group)
    finally:
        c.close()
    summary("groups/kip848-regex: read %r; final assignment %r" % ({t: len(v) for t, v in got.items()},
                                                                    assignment))
    assert got[t_a] == set(want[t_a]) and got[t_b] == set(want[t_b]), {t: len(v) for t, v in got.items()}
    assert t_other not in got, "non-matching topic was assigned"
    assert late_created and got[t_late] == set(want[t_late]), "topic created later: %d of 50" % len(got[t_late])
    assert assignment == sorted((t, p) for t in (t_a, t_b, t_late) for p in range(2)), assignment
    assert d.members and d.members[0].assignment.topic_partitions, d
