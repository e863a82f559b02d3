"""Shared helpers for the gregor black-box protocol tests.

Everything that talks the Kafka wire protocol directly (without a client
library) lives here: framing, request headers, a few request/response codecs
(ApiVersions, Metadata, Fetch, ListOffsets), the v2 record-batch parser and a
pure-Python CRC32C.  It also holds the Broker process wrapper used by the
fixtures in conftest.py and the message generator shared by the client tests.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
from collections import namedtuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# run.sh builds a static binary (it also goes into the Docker image).
DEFAULT_BIN = os.path.join(REPO_ROOT, "target", "x86_64-unknown-linux-gnu", "release", "gregor")

# API keys used below.
API_PRODUCE = 0
API_FETCH = 1
API_LIST_OFFSETS = 2
API_METADATA = 3
API_API_VERSIONS = 18

ERR_NONE = 0
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_TOPIC_ALREADY_EXISTS = 36
ERR_UNSUPPORTED_VERSION = 35

# Lines collected during the run and printed by conftest's terminal summary.
SUMMARY_LINES = []


def summary(line):
    """Print a line and keep it for the end-of-run summary."""
    print(line, flush=True)
    SUMMARY_LINES.append(line)


def unique_topic(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), table driven, pure Python.
# ---------------------------------------------------------------------------

def _make_crc32c_table():
    poly = 0x82F63B78  # reversed 0x1EDC6F41
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            if c & 1:
                c = (c >> 1) ^ poly
            else:
                c >>= 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Primitive encoders / decoder.
# ---------------------------------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


class Reader:
    """Big-endian cursor over a response body."""

    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def remaining(self):
        return len(self.buf) - self.pos

    def _take(self, fmt, size):
        if self.pos + size > len(self.buf):
            raise ValueError("short read at %d (+%d) of %d" % (self.pos, size, len(self.buf)))
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def i8(self):
        return self._take(">b", 1)

    def i16(self):
        return self._take(">h", 2)

    def i32(self):
        return self._take(">i", 4)

    def u32(self):
        return self._take(">I", 4)

    def i64(self):
        return self._take(">q", 8)

    def raw(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("short read of %d bytes at %d of %d" % (n, self.pos, len(self.buf)))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        return self.raw(n).decode()

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        return self.raw(n)

    def uvarint(self):
        shift = 0
        result = 0
        while True:
            b = self.raw(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self):
        n = self.uvarint()
        return (n >> 1) ^ -(n & 1)

    def compact_string(self):
        n = self.uvarint()
        if n == 0:
            return None
        return self.raw(n - 1).decode()

    def tagged_fields(self):
        count = self.uvarint()
        tags = {}
        for _ in range(count):
            tag = self.uvarint()
            size = self.uvarint()
            tags[tag] = self.raw(size)
        return tags

    def array(self, dec):
        n = self.i32()
        if n < 0:
            return None
        return [dec(self) for _ in range(n)]

    def compact_array(self, dec):
        n = self.uvarint()
        if n == 0:
            return None
        return [dec(self) for _ in range(n - 1)]


# ---------------------------------------------------------------------------
# Framing.
# ---------------------------------------------------------------------------

def request_header(api_key, version, correlation_id, client_id="gregor-protocol-tests", flexible=False):
    hdr = i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)
    if flexible:
        hdr += uvarint(0)  # empty tagged fields (request header v2)
    return hdr


def frame(payload):
    return i32(len(payload)) + payload


def connect(addr, timeout=10.0):
    host, port = addr
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    """Read exactly n bytes; return None when the peer closes first."""
    chunks = []
    got = 0
    while got < n:
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock):
    """Return one response frame's payload (without the size), or None on EOF."""
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0:
        raise ValueError("negative response size %d" % size)
    return recv_exact(sock, size)


def roundtrip(sock, api_key, version, body, correlation_id=1, flexible_header=False):
    """Send one request, read one response; return a Reader positioned after
    the correlation id.  Raises if the connection is closed or the
    correlation id does not match."""
    sock.sendall(frame(request_header(api_key, version, correlation_id, flexible=flexible_header) + body))
    resp = recv_frame(sock)
    if resp is None:
        raise ConnectionError("broker closed the connection instead of answering api_key=%d v%d" % (api_key, version))
    r = Reader(resp)
    corr = r.i32()
    if corr != correlation_id:
        raise AssertionError("correlation id mismatch: sent %d got %d" % (correlation_id, corr))
    return r


def wait_closed(sock, timeout):
    """Wait until the peer closes the connection.  Returns ('closed', b'') on
    EOF/reset, ('data', bytes) if the peer sent something, ('timeout', b'')."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return "timeout", b""
    except (ConnectionResetError, BrokenPipeError):
        return "closed", b""
    if not data:
        return "closed", b""
    return "data", data


# ---------------------------------------------------------------------------
# ApiVersions.
# ---------------------------------------------------------------------------

ApiVersionsResult = namedtuple("ApiVersionsResult", "error_code apis throttle_ms")


def decode_api_versions_v0(r):
    err = r.i16()
    apis = {}
    for (k, lo, hi) in r.array(lambda rr: (rr.i16(), rr.i16(), rr.i16())):
        apis[k] = (lo, hi)
    return ApiVersionsResult(err, apis, None)


def api_versions(sock, version=0, correlation_id=7):
    if version <= 2:
        r = roundtrip(sock, API_API_VERSIONS, version, b"", correlation_id)
        err = r.i16()
        apis = {}
        for (k, lo, hi) in r.array(lambda rr: (rr.i16(), rr.i16(), rr.i16())):
            apis[k] = (lo, hi)
        throttle = r.i32() if version >= 1 else None
        return ApiVersionsResult(err, apis, throttle)
    # v3+: flexible request (header v2) but the response header stays v0.
    body = compact_string("gregor-protocol-tests") + compact_string("1.0") + uvarint(0)
    r = roundtrip(sock, API_API_VERSIONS, version, body, correlation_id, flexible_header=True)
    err = r.i16()

    def dec(rr):
        k, lo, hi = rr.i16(), rr.i16(), rr.i16()
        rr.tagged_fields()
        return (k, lo, hi)

    apis = {}
    for (k, lo, hi) in r.compact_array(dec) or []:
        apis[k] = (lo, hi)
    throttle = r.i32()
    r.tagged_fields()
    return ApiVersionsResult(err, apis, throttle)


def api_versions_addr(addr, version=0, timeout=5.0):
    s = connect(addr, timeout)
    try:
        return api_versions(s, version)
    finally:
        s.close()


# ---------------------------------------------------------------------------
# Metadata v4 (non-flexible; has allow_auto_topic_creation).
# ---------------------------------------------------------------------------

MetadataTopic = namedtuple("MetadataTopic", "error_code name is_internal partitions")
MetadataPartition = namedtuple("MetadataPartition", "error_code index leader replicas isr")
MetadataResult = namedtuple("MetadataResult", "brokers cluster_id controller_id topics")


def metadata_v4(addr, topics, allow_auto_topic_creation, timeout=10.0):
    body = array(topics, string) + i8(1 if allow_auto_topic_creation else 0)
    s = connect(addr, timeout)
    try:
        r = roundtrip(s, API_METADATA, 4, body, correlation_id=11)
    finally:
        s.close()
    r.i32()  # throttle
    brokers = r.array(lambda rr: (rr.i32(), rr.string(), rr.i32(), rr.string()))
    cluster_id = r.string()
    controller = r.i32()

    def dec_part(rr):
        return MetadataPartition(rr.i16(), rr.i32(), rr.i32(),
                                 rr.array(lambda x: x.i32()), rr.array(lambda x: x.i32()))

    def dec_topic(rr):
        return MetadataTopic(rr.i16(), rr.string(), rr.i8(), rr.array(dec_part))

    tlist = r.array(dec_topic)
    return MetadataResult(brokers, cluster_id, controller, {t.name: t for t in tlist})


# ---------------------------------------------------------------------------
# Fetch v4 (non-flexible, supported by every modern Kafka broker).
# ---------------------------------------------------------------------------

FetchPartition = namedtuple("FetchPartition", "index error_code high_watermark last_stable_offset records")


def encode_fetch_v4(topic, partition, offset, max_wait_ms, min_bytes, max_bytes, partition_max_bytes):
    part = i32(partition) + i64(offset) + i32(partition_max_bytes)
    topic_enc = string(topic) + i32(1) + part
    return (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + i32(1) + topic_enc)


def decode_fetch_v4(r):
    r.i32()  # throttle
    result = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx = r.i32()
            err = r.i16()
            hw = r.i64()
            lso = r.i64()
            r.array(lambda rr: (rr.i64(), rr.i64()))  # aborted transactions
            records = r.bytes_()
            result[(name, idx)] = FetchPartition(idx, err, hw, lso, records)
    return result


def fetch_v4(sock, topic, partition, offset, max_wait_ms=0, min_bytes=1, max_bytes=50 << 20,
             partition_max_bytes=1 << 20, correlation_id=21):
    body = encode_fetch_v4(topic, partition, offset, max_wait_ms, min_bytes, max_bytes, partition_max_bytes)
    r = roundtrip(sock, API_FETCH, 4, body, correlation_id)
    return decode_fetch_v4(r)[(topic, partition)]


# ---------------------------------------------------------------------------
# ListOffsets v1 (timestamp query, single offset answer).
# ---------------------------------------------------------------------------

def list_offsets_v1(addr, topic, partition, timestamp):
    body = i32(-1) + i32(1) + string(topic) + i32(1) + i32(partition) + i64(timestamp)
    s = connect(addr)
    try:
        r = roundtrip(s, API_LIST_OFFSETS, 1, body, correlation_id=31)
    finally:
        s.close()
    out = None
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            if p == partition:
                out = (err, ts, off)
    return out


# ---------------------------------------------------------------------------
# v2 record batches.
# ---------------------------------------------------------------------------

BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
BATCH_HEADER_SIZE = BATCH_HEADER.size  # 61
# Offset of the attributes field: everything from here to the end is CRC'd.
CRC_START = 8 + 4 + 4 + 1 + 4  # 21

Batch = namedtuple("Batch", "base_offset batch_length leader_epoch magic crc attributes last_offset_delta "
                            "first_timestamp max_timestamp producer_id producer_epoch base_sequence "
                            "records_count body crc_ok total_size")
Record = namedtuple("Record", "offset timestamp key value headers")


def parse_batches(buf, allow_partial_tail=True):
    """Parse consecutive v2 record batches.  A truncated trailing batch (as a
    fetch response may legally contain) is ignored when allow_partial_tail."""
    out = []
    pos = 0
    n = len(buf)
    while pos < n:
        if n - pos < 12:
            if allow_partial_tail:
                break
            raise ValueError("trailing %d bytes" % (n - pos))
        base_offset, batch_length = struct.unpack_from(">qi", buf, pos)
        total = 12 + batch_length
        if batch_length < BATCH_HEADER_SIZE - 12:
            raise ValueError("bad batch length %d at %d" % (batch_length, pos))
        if pos + total > n:
            if allow_partial_tail:
                break
            raise ValueError("truncated batch at %d" % pos)
        fields = BATCH_HEADER.unpack_from(buf, pos)
        magic = fields[3]
        if magic != 2:
            raise ValueError("magic %d at %d" % (magic, pos))
        crc = fields[4]
        crc_ok = crc32c(bytes(buf[pos + CRC_START:pos + total])) == crc
        body = bytes(buf[pos + BATCH_HEADER_SIZE:pos + total])
        out.append(Batch(*fields, body, crc_ok, total))
        pos += total
    return out


def varint(n):
    return uvarint((n << 1) ^ (n >> 63))


def _varbytes(b):
    if b is None:
        return varint(-1)
    return varint(len(b)) + b


def encode_record(offset_delta, ts_delta, key, value, headers=()):
    body = (i8(0) + varint(ts_delta) + varint(offset_delta) + _varbytes(key) + _varbytes(value)
            + varint(len(headers)))
    for hk, hv in headers:
        hkb = hk.encode()
        body += varint(len(hkb)) + hkb + _varbytes(hv)
    return varint(len(body)) + body


def build_batch(records, first_ts, base_offset=0, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """An uncompressed v2 batch; records = [(key, value, headers)], timestamps first_ts + index.
    Idempotent when producer_id >= 0 (with its epoch and first sequence number)."""
    recs = b"".join(encode_record(n, n, k, v, h) for n, (k, v, h) in enumerate(records))
    after_crc = (i16(0) + i32(len(records) - 1) + i64(first_ts) + i64(first_ts + len(records) - 1)
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence) + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    batch_len = 4 + 1 + 4 + len(after_crc)
    return i64(base_offset) + i32(batch_len) + i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc


def encode_produce_v3(topic, partition, batch, acks, timeout_ms=30000):
    return (string(None) + i16(acks) + i32(timeout_ms) + i32(1) + string(topic) + i32(1) + i32(partition)
            + i32(len(batch)) + batch)


def decode_produce_v3(r):
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p, err, base, log_append = r.i32(), r.i16(), r.i64(), r.i64()
            out[(name, p)] = (err, base, log_append)
    r.i32()  # throttle
    return out


COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def decompress(codec, data):
    if codec == 0:
        return data
    if codec == 1:
        import gzip
        return gzip.decompress(data)
    if codec == 2:
        # Kafka snappy uses the xerial framing (as written by the Java
        # client and librdkafka); fall back to raw snappy otherwise.
        import snappy
        if data[:8] == b"\x82SNAPPY\x00":
            out = bytearray()
            pos = 16
            while pos < len(data):
                (clen,) = struct.unpack_from(">i", data, pos)
                pos += 4
                out += snappy.decompress(data[pos:pos + clen])
                pos += clen
            return bytes(out)
        return snappy.decompress(data)
    if codec == 3:
        import lz4.frame
        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError("unknown codec %d" % codec)


def batch_records(batch):
    """Decode the records of a batch (decompressing as needed)."""
    data = decompress(batch.attributes & 7, batch.body)
    r = Reader(data)
    recs = []
    for _ in range(batch.records_count):
        length = r.varint()
        start = r.pos
        r.i8()  # record attributes
        ts_delta = r.varint()
        off_delta = r.varint()
        klen = r.varint()
        key = None if klen < 0 else r.raw(klen)
        vlen = r.varint()
        value = None if vlen < 0 else r.raw(vlen)
        headers = []
        for _ in range(r.varint()):
            hk = r.raw(r.varint()).decode()
            hvl = r.varint()
            hv = None if hvl < 0 else r.raw(hvl)
            headers.append((hk, hv))
        if r.pos - start != length:
            raise ValueError("record length mismatch: header says %d, parsed %d" % (length, r.pos - start))
        recs.append(Record(batch.base_offset + off_delta, batch.first_timestamp + ts_delta, key, value, headers))
    if r.remaining():
        raise ValueError("%d bytes left after %d records" % (r.remaining(), batch.records_count))
    return recs


# ---------------------------------------------------------------------------
# Broker process wrapper.
# ---------------------------------------------------------------------------

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


ACTIVE_BROKERS = []


class BrokerDied(Exception):
    pass


class Broker:
    """A real gregor process on a loopback port with its own data dir."""

    def __init__(self, overrides=None, wrapper=None, data_dir=None, port=None, name="gregor"):
        self.bin = os.environ.get("GREGOR_BIN", DEFAULT_BIN)
        self.overrides = dict(overrides or {})
        self.wrapper = list(wrapper or [])
        self._tmp = tempfile.mkdtemp(prefix="kpt-broker-")
        self.data_dir = data_dir or os.path.join(self._tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(self._tmp, "broker.log")
        self.port = port or free_port()
        self.name = name
        self.proc = None
        self.starts = 0
        self._log = None

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def command(self):
        cmd = self.wrapper + [self.bin, "--data-dir", self.data_dir,
                              "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                              "--override", "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % self.port]
        for k, v in self.overrides.items():
            cmd += ["--override", "%s=%s" % (k, v)]
        return cmd

    def start(self, timeout=60.0):
        if not os.path.exists(self.bin):
            raise FileNotFoundError("gregor binary not found at %s (build with `cargo build --release` "
                                    "or set GREGOR_BIN)" % self.bin)
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("broker already running")
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(("\n===== start #%d: %s\n" % (self.starts, " ".join(self.command()))).encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if self not in ACTIVE_BROKERS:
            ACTIVE_BROKERS.append(self)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60.0):
        deadline = time.time() + timeout
        last_err = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BrokerDied("gregor exited with code %s during startup; log tail:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            try:
                res = api_versions_addr(self.addr, 0, timeout=2.0)
                if res.error_code == 0 and API_API_VERSIONS in res.apis:
                    return
                last_err = "ApiVersions answered error %d" % res.error_code
            except (OSError, ValueError, ConnectionError, AssertionError) as e:
                last_err = repr(e)
            time.sleep(0.1)
        raise TimeoutError("gregor not ready after %.0fs (%s); log tail:\n%s" % (timeout, last_err, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self, timeout=30.0, check=True):
        """SIGTERM, wait, and (by default) assert a clean exit code 0."""
        assert self.proc is not None, "broker never started"
        if self.proc.poll() is not None:
            code = self.proc.returncode
            if check:
                raise AssertionError("gregor had already exited with code %s before stop(); log tail:\n%s"
                                     % (code, self.log_tail()))
            return code
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("gregor did not exit within %.0fs of SIGTERM; log tail:\n%s"
                                 % (timeout, self.log_tail()))
        if check:
            assert code == 0, "gregor exited with code %s after SIGTERM; log tail:\n%s" % (code, self.log_tail())
        return code

    def restart(self, timeout=60.0):
        """Start again on the same port and data dir (stopping gracefully first if running)."""
        if self.alive():
            self.stop()
        return self.start(timeout)

    def close(self):
        """Teardown: returns an error string if the broker had crashed."""
        problem = None
        if self.proc is not None:
            if self.proc.poll() is not None:
                if self.proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM) and self.starts:
                    problem = "gregor had exited on its own with code %s; log tail:\n%s" % (
                        self.proc.returncode, self.log_tail())
            else:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        if self._log:
            self._log.close()
        if self in ACTIVE_BROKERS:
            ACTIVE_BROKERS.remove(self)
        if not os.environ.get("PT_KEEP_DATA"):
            shutil.rmtree(self._tmp, ignore_errors=True)
        return problem

    def log_tail(self, lines=120, max_chars=20000):
        """The last lines of the broker log, preceded by its first panic /
        allocation-failure / ERROR lines so a backtrace cannot hide the cause."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 512 * 1024))
                data = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        all_lines = data.splitlines()
        notable = [ln for ln in all_lines
                   if "panicked" in ln or "memory allocation" in ln or " ERROR " in ln or "FATAL" in ln][:15]
        tail = "\n".join(all_lines[-lines:])[-max_chars:]
        if notable:
            return "notable lines:\n%s\n--- last %d lines:\n%s" % ("\n".join(notable), lines, tail)
        return tail

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# Test messages.
# ---------------------------------------------------------------------------

Msg = namedtuple("Msg", "i partition key value headers timestamp")

_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        import random
        rnd = random.Random(0x67726567)
        # Half random bytes, half repetitive text so every codec has work to do.
        rand = bytes(rnd.getrandbits(8) for _ in range(1 << 16))
        text = (b"gregor speaks the kafka protocol " * 2048)[:1 << 16]
        _POOL = rand + text
    return _POOL


def make_messages(n, partitions=3, base_ts=None, tag="m", max_value=300):
    """Deterministic messages with keys, binary headers, explicit timestamps,
    some null keys/values, empty values and header-less records."""
    pool = _pool()
    if base_ts is None:
        base_ts = now_ms() - 600_000
    out = []
    plen = len(pool)
    for i in range(n):
        key = None if (i % 97 == 0 and i % 101 != 0) else ("%s-key-%d" % (tag, i)).encode()
        if i % 101 == 0:
            value = None
        elif i % 103 == 0:
            value = b""
        else:
            size = (i * 7919) % max_value + 1
            start = (i * 104729) % (plen - size)
            value = pool[start:start + size]
        if i % 7 == 0:
            headers = []
        else:
            headers = [("idx", str(i).encode()), ("bin", bytes([(i + j) & 0xFF for j in range(i % 5 + 1)]))]
            if i % 11 == 0:
                headers.append(("empty", b""))
        out.append(Msg(i, i % partitions, key, value, headers, base_ts + i))
    return out


def norm_headers(h):
    if not h:
        return []
    return [(k, None if v is None else bytes(v)) for (k, v) in h]


def verify_consumed(msgs, delivered_offsets, consumed, label):
    """msgs: list of Msg; delivered_offsets: {i: (partition, offset)} from the
    producer's acks; consumed: {partition: [(offset, key, value, headers, ts)]}.
    Checks every record byte-for-byte, offsets against the acks and per-partition order."""
    by_part = {}
    for m in msgs:
        by_part.setdefault(m.partition, []).append(m)
    total = sum(len(v) for v in consumed.values())
    assert total == len(msgs), "%s: consumed %d records, produced %d" % (label, total, len(msgs))
    for p, expected in by_part.items():
        got = consumed.get(p, [])
        assert len(got) == len(expected), "%s: partition %d has %d records, expected %d" % (
            label, p, len(got), len(expected))
        prev = -1
        for m, rec in zip(expected, got):
            off, key, value, headers, ts = rec
            assert off > prev, "%s: p%d offsets not increasing (%d after %d)" % (label, p, off, prev)
            prev = off
            if delivered_offsets is not None:
                dp, doff = delivered_offsets[m.i]
                assert (dp, doff) == (p, off), "%s: msg %d acked at p%d@%d but consumed at p%d@%d" % (
                    label, m.i, dp, doff, p, off)
            assert key == m.key, "%s: p%d@%d key %r != %r" % (label, p, off, key, m.key)
            assert value == m.value, "%s: p%d@%d value mismatch (len %s vs %s)" % (
                label, p, off, None if value is None else len(value), None if m.value is None else len(m.value))
            assert norm_headers(headers) == m.headers, "%s: p%d@%d headers %r != %r" % (
                label, p, off, headers, m.headers)
            assert ts == m.timestamp, "%s: p%d@%d timestamp %d != %d" % (label, p, off, ts, m.timestamp)
        # Offsets of a fresh topic are dense from 0.
        offs = [r[0] for r in got]
        assert offs == list(range(len(offs))), "%s: p%d offsets not dense from 0: first %r" % (
            label, p, offs[:10])


def serve_broker(overrides=None, name="module-broker"):
    """Generator for module fixtures: start a Broker, yield it, stop it, and
    fail the module if the broker exited badly (`yield from` it in a fixture)."""
    import pytest
    b = Broker(overrides=overrides, name=name) if overrides else Broker(name=name)
    try:
        b.start()
    except Exception:
        b.close()
        raise
    yield b
    problem = b.close()
    if problem:
        pytest.fail(problem)
