//! `kafka-dump-log`: Kafka 4.1's DumpLogSegments on gregor's segment files, which
//! are Kafka's format (`<20-digit base>.log` of v2 batches, `.index` of 8-byte
//! entries, `.timeindex` of 12-byte entries); offline, no broker needed.
//!
//! One difference, so `--verify-index-only` reports no false mismatches: gregor's
//! offset index entries name a batch's base offset (Kafka's name its last offset).

use std::fs;
use std::path::Path;

use crate::record::{
    batch_records, parse_header, RecordIter, TimestampType, BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES,
};

/// Default --max-message-size, in bytes (Kafka's 5 MiB).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 5 * 1024 * 1024;
/// Bytes per entry of `.index` and `.timeindex`.
const OFFSET_ENTRY_BYTES: usize = 8;
const TIME_ENTRY_BYTES: usize = 12;
/// Kafka's indent of record lines under their batch.
const RECORD_INDENT: &str = "|";

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Comma-separated .log, .index and .timeindex files to dump.
    #[arg(long, required = true, value_delimiter = ',')]
    pub files: Vec<String>,
    /// Print each record's key and payload (implies --deep-iteration).
    #[arg(long)]
    pub print_data_log: bool,
    /// Only check the index against the log, printing mismatches.
    #[arg(long)]
    pub verify_index_only: bool,
    /// Only check that the index is well formed.
    #[arg(long)]
    pub index_sanity_check: bool,
    /// Largest batch read at an index position, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_size: usize,
    /// Stop after this many bytes of batches per .log file.
    #[arg(long, default_value_t = i32::MAX as usize)]
    pub max_bytes: usize,
    /// List every record of each batch, not only the batch.
    #[arg(long)]
    pub deep_iteration: bool,
    /// JVM decoder class for values; gregor prints values as UTF-8 text.
    #[arg(long, num_args = 0..=1, default_missing_value = "org.apache.kafka.tools.api.StringDecoder")]
    pub value_decoder_class: Option<String>,
    /// JVM decoder class for keys; gregor prints keys as UTF-8 text.
    #[arg(long, num_args = 0..=1, default_missing_value = "org.apache.kafka.tools.api.StringDecoder")]
    pub key_decoder_class: Option<String>,
    /// Decode __consumer_offsets records.
    #[arg(long)]
    pub offsets_decoder: bool,
    /// Decode __transaction_state records.
    #[arg(long)]
    pub transaction_log_decoder: bool,
    /// Decode __cluster_metadata records.
    #[arg(long)]
    pub cluster_metadata_decoder: bool,
    /// Decode remote log metadata records.
    #[arg(long)]
    pub remote_log_metadata_decoder: bool,
    /// Decode share group state records.
    #[arg(long)]
    pub share_group_state_decoder: bool,
    /// Leave out each record's metadata line.
    #[arg(long)]
    pub skip_record_metadata: bool,
}

fn base_offset_of(path: &Path) -> Result<i64, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split('.')
        .next()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            format!(
                "{}: not a segment file name (<base offset>.log)",
                path.display()
            )
        })
}

fn text(b: Option<&[u8]>) -> String {
    b.map_or_else(
        || "null".to_string(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

fn codec_name(h: &crate::record::BatchHeader) -> String {
    format!("{:?}", h.compression()).to_ascii_lowercase()
}

fn ts_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

fn dump_log(
    path: &Path,
    args: &DumpArgs,
    print: bool,
    out: &mut Vec<String>,
) -> Result<(), String> {
    out.push(format!("Log starting offset: {}", base_offset_of(path)?));
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let limit = data.len().min(args.max_bytes);
    let deep = args.deep_iteration || print;
    let mut pos = 0usize;
    let mut last: Option<i64> = None;
    let mut gaps = Vec::new();
    while limit - pos >= BATCH_HEADER_BYTES {
        let h = parse_header(&data[pos..]).map_err(|e| e.to_string())?;
        let total = h.total_bytes() as usize;
        if total < BATCH_HEADER_BYTES || pos + total > limit {
            break;
        }
        let batch = &data[pos..pos + total];
        let valid = crate::record::validate_stored_batches(batch).is_ok();
        let last_seq = if h.base_sequence < 0 {
            -1
        } else {
            h.base_sequence.wrapping_add(h.last_offset_delta)
        };
        out.push(format!(
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: OptionalLong.empty position: {pos} {}: {} size: {total} magic: {} compresscodec: {} crc: {} isvalid: {valid}",
            h.base_offset, h.last_offset(), h.records_count, h.base_sequence, last_seq, h.producer_id,
            h.producer_epoch, h.partition_leader_epoch, h.is_transactional(), h.is_control(),
            ts_name(h.timestamp_type()), h.max_timestamp, h.magic, codec_name(&h), h.crc
        ));
        if deep {
            let (h, body) =
                batch_records(batch).map_err(|e| format!("offset {}: {e}", h.base_offset))?;
            for r in RecordIter::new(&h, &body) {
                let r = r.map_err(|e| format!("batch at {}: {e}", h.base_offset))?;
                if let Some(l) = last.filter(|l| r.offset != l + 1) {
                    gaps.push((l, r.offset));
                }
                last = Some(r.offset);
                let mut line = format!("{RECORD_INDENT} ");
                if !args.skip_record_metadata {
                    let keys: Vec<String> = r
                        .header_pairs()
                        .map_err(|e| e.to_string())?
                        .iter()
                        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    let seq = if h.base_sequence < 0 {
                        -1
                    } else {
                        h.base_sequence
                            .wrapping_add((r.offset - h.base_offset) as i32)
                    };
                    line.push_str(&format!(
                        "offset: {} {}: {} keySize: {} valueSize: {} sequence: {seq} headerKeys: [{}]",
                        r.offset, ts_name(h.timestamp_type()), r.timestamp,
                        r.key.map_or(-1, |k| k.len() as i64), r.value.map_or(-1, |v| v.len() as i64),
                        keys.join(",")
                    ));
                    if h.is_control() {
                        let kind = r
                            .key
                            .filter(|k| k.len() >= 4)
                            .map(|k| i16::from_be_bytes([k[2], k[3]]));
                        line.push_str(&match kind {
                            Some(0) => " endTxnMarker: ABORT".to_string(),
                            Some(1) => " endTxnMarker: COMMIT".to_string(),
                            Some(t) => format!(" controlType: UNKNOWN({t})"),
                            None => " controlType: UNKNOWN(-1)".to_string(),
                        });
                    }
                    line.push(' ');
                }
                if print && !h.is_control() {
                    line.push_str(&format!("key: {} payload: {}", text(r.key), text(r.value)));
                }
                out.push(line.trim_end().to_string());
            }
        }
        pos += total;
    }
    if pos < limit && limit == data.len() {
        out.push(format!(
            "Found {} invalid bytes at the end of {}",
            limit - pos,
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ));
    }
    for (a, b) in gaps {
        eprintln!(
            "Non-consecutive offsets in {}\n  {a} is followed by {b}",
            path.display()
        );
    }
    Ok(())
}

/// The batch header at byte `position` of the segment's .log, if whole.
fn batch_at(log: &[u8], position: usize) -> Option<crate::record::BatchHeader> {
    log.get(position..).and_then(|b| parse_header(b).ok())
}

fn dump_index(
    path: &Path,
    args: &DumpArgs,
    time: bool,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let base = base_offset_of(path)?;
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let log_path = path.with_file_name(format!("{:020}.log", base));
    let log = fs::read(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let width = if time {
        TIME_ENTRY_BYTES
    } else {
        OFFSET_ENTRY_BYTES
    };
    if data.is_empty() {
        out.push(format!("{} is empty.", path.display()));
        return Ok(());
    }
    if args.index_sanity_check {
        if data.len() % width != 0 {
            return Err(format!(
                "{}: size {} is not a multiple of the {width}-byte entry",
                path.display(),
                data.len()
            ));
        }
        out.push(format!("{} passed sanity check.", path.display()));
        return Ok(());
    }
    let mut mismatches = Vec::new();
    for (i, e) in data.chunks_exact(width).enumerate() {
        let u32_at = |at: usize| u32::from_be_bytes([e[at], e[at + 1], e[at + 2], e[at + 3]]);
        if time {
            let ts = i64::from_be_bytes(e[..8].try_into().expect("8 bytes"));
            let offset = base + i64::from(u32_at(8));
            if !args.verify_index_only {
                out.push(format!("timestamp: {ts} offset: {offset}"));
            }
            continue;
        }
        let (offset, position) = (base + i64::from(u32_at(0)), u32_at(4) as usize);
        if offset == base && i > 0 {
            break;
        }
        let found = batch_at(&log, position)
            .filter(|h| (h.total_bytes() as usize) <= args.max_message_size + LOG_OVERHEAD_BYTES);
        match found {
            Some(h) if h.base_offset == offset => {}
            Some(h) => mismatches.push((offset, h.base_offset)),
            None => mismatches.push((offset, -1)),
        }
        if !args.verify_index_only {
            out.push(format!("offset: {offset} position: {position}"));
        }
    }
    if !mismatches.is_empty() {
        eprintln!("Mismatches in :{}", path.display());
        for (i, l) in mismatches {
            eprintln!("  Index offset: {i}, log offset: {l}");
        }
    }
    Ok(())
}

pub fn run(args: &DumpArgs) -> Result<Vec<String>, String> {
    if args.cluster_metadata_decoder {
        return Err("--cluster-metadata-decoder: gregor's __cluster_metadata is its Raft log (openraft entries), not Kafka's KRaft record batches, so it cannot be decoded as Kafka metadata records".into());
    }
    for (on, what) in [
        (args.offsets_decoder, "--offsets-decoder"),
        (args.transaction_log_decoder, "--transaction-log-decoder"),
        (
            args.remote_log_metadata_decoder,
            "--remote-log-metadata-decoder",
        ),
        (
            args.share_group_state_decoder,
            "--share-group-state-decoder",
        ),
    ] {
        if on {
            eprintln!("{what}: gregor does not decode these records; keys and payloads are printed as text");
        }
    }
    for (class, what) in [
        (&args.key_decoder_class, "--key-decoder-class"),
        (&args.value_decoder_class, "--value-decoder-class"),
    ] {
        if let Some(c) = class {
            eprintln!("{what} {c}: a JVM class; gregor prints bytes as UTF-8 text");
        }
    }
    let mut out = Vec::new();
    // Kafka: any decoder option turns on --print-data-log.
    let print = args.print_data_log || args.offsets_decoder || args.transaction_log_decoder;
    for f in &args.files {
        let path = Path::new(f);
        out.push(format!("Dumping {f}"));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".log") {
            dump_log(path, args, print, &mut out)?;
        } else if name.ends_with(".index") {
            dump_index(path, args, false, &mut out)?;
        } else if name.ends_with(".timeindex") {
            dump_index(path, args, true, &mut out)?;
        } else {
            eprintln!("Ignoring unknown file {f}");
        }
    }
    Ok(out)
}
