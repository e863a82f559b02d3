//! `kafka-consumer-groups.sh --reset-offsets` (every reset specification of
//! Kafka 4.1: `--to-earliest`, `--to-latest`, `--to-current`, `--to-offset`,
//! `--shift-by`, `--to-datetime`, `--by-duration`, `--from-file`; the plan
//! printed as a table or, with `--export`, as Kafka's CSV) and
//! `--delete-offsets` (OffsetDelete, API key 47).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetDeleteRequest, OffsetDeleteResponse};
use kafka_protocol::protocol::StrBytes;

use super::client::error_text;
use super::consumer_groups::ConsumerGroupsArgs;
use super::groups;
use super::session::{topic_name, Session, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

const READ_UNCOMMITTED: i8 = 0;
const MS_PER_DAY: i64 = 86_400_000;

/// A reset plan: (topic, partition, new offset) rows.
pub type Plan = Vec<(String, i32, i64)>;

/// Kafka's reset-offsets table (fixed widths, padded last column included).
pub fn reset_table(group: &str, offsets: &[(String, i32, i64)]) -> Vec<String> {
    let fmt = |a: &str, b: &str, c: &str, d: &str| format!("{a:<30} {b:<30} {c:<10} {d:<15}");
    let mut out = vec![
        String::new(),
        fmt("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"),
    ];
    for (t, p, o) in offsets {
        out.push(fmt(group, t, &p.to_string(), &o.to_string()));
    }
    out
}

/// Parses a `--topic` of `--reset-offsets`/`--delete-offsets`: `name` or `name:0,2`.
pub fn parse_topic_spec(s: &str) -> Result<(String, Option<Vec<i32>>), String> {
    match s.split_once(':') {
        None => Ok((s.to_string(), None)),
        Some((t, ps)) => {
            let parts = ps
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("invalid partition {p:?} in --topic {s}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((t.to_string(), Some(parts)))
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `--to-datetime` as Kafka does: `YYYY-MM-DDTHH:mm:SS.sss`, then an
/// optional zone `Z`, `±hh`, `±hhmm` or `±hh:mm` (none = UTC). Returns ms since the epoch.
pub fn parse_datetime(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("Error parsing timestamp {s:?}: expected YYYY-MM-DDTHH:mm:SS.sss with an optional zone (Z, +hh:mm, +hhmm, +hh)")
    };
    let (date, time) = s.trim().split_once('T').ok_or_else(bad)?;
    let num = |t: &str, len: usize| -> Result<i64, String> {
        if t.len() == len && t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, mo, da] = d.as_slice() else {
        return Err(bad());
    };
    let (y, mo, da) = (num(y, 4)?, num(mo, 2)?, num(da, 2)?);
    let zone_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let (hms, millis) = clock.split_once('.').ok_or_else(bad)?;
    let t: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = t.as_slice() else {
        return Err(bad());
    };
    let (h, mi, se) = (num(h, 2)?, num(mi, 2)?, num(se, 2)?);
    if millis.is_empty() || millis.len() > 3 || !millis.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ms: i64 = millis.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&mo)
        || da < 1
        || da > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 59
    {
        return Err(bad());
    }
    let offset_min = match zone {
        "" | "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits = z[1..].replace(':', "");
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let (zh, zm) = match digits.len() {
                2 => (num(&digits, 2)?, 0),
                4 => (num(&digits[..2], 2)?, num(&digits[2..], 2)?),
                _ => return Err(bad()),
            };
            if z[1..].contains(':') && z.len() != 6 {
                return Err(bad());
            }
            sign * (zh * 60 + zm)
        }
    };
    Ok(
        days_from_civil(y, mo, da) * MS_PER_DAY
            + ((h * 60 + mi - offset_min) * 60 + se) * 1000
            + ms,
    )
}

/// Parses `--by-duration` as Java's `Duration.parse`: `[-]PnDTnHnMn.nS`
/// (case-insensitive, signed components). Returns the duration in ms.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || {
        format!("Text cannot be parsed to a Duration: {s:?} (expected PnDTnHnMnS, e.g. PT1H or P1DT30M)")
    };
    let up = s.trim().to_ascii_uppercase();
    let (neg, rest) = match up.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, up.strip_prefix('+').unwrap_or(&up)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total: f64 = 0.0;
    let mut any = false;
    if !days.is_empty() {
        let n = days.strip_suffix('D').ok_or_else(bad)?;
        total += n.parse::<i64>().map_err(|_| bad())? as f64 * MS_PER_DAY as f64;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return Err(bad());
        }
        for (unit, ms) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)] {
            if let Some(i) = t.find(unit) {
                let n = &t[..i];
                let v: f64 = if unit == 'S' {
                    n.parse().map_err(|_| bad())?
                } else {
                    n.parse::<i64>().map_err(|_| bad())? as f64
                };
                total += v * ms;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    let ms = total.round() as i64;
    Ok(if neg { -ms } else { ms })
}

/// Reads a `--from-file` plan: `topic,partition,offset` lines for a single
/// `--group`, or `group,topic,partition,offset` lines (Kafka's two CSV layouts).
pub fn parse_plan(text: &str, groups: &[String]) -> Result<BTreeMap<String, Plan>, String> {
    let mut out: BTreeMap<String, Plan> = BTreeMap::new();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let three = lines.first().is_some_and(|l| l.split(',').count() == 3);
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let (group, rest) = match (three, groups) {
            (true, [g]) => (g.clone(), &cells[..]),
            (true, _) => {
                return Err("a topic,partition,offset reset file needs exactly one --group".into())
            }
            (false, _) if cells.len() == 4 => (cells[0].to_string(), &cells[1..]),
            _ => {
                return Err(format!(
                    "reset file line {}: expected [group,]topic,partition,offset, got {line:?}",
                    i + 1
                ))
            }
        };
        let [t, p, o] = rest else {
            return Err(format!(
                "reset file line {}: expected [group,]topic,partition,offset, got {line:?}",
                i + 1
            ));
        };
        let p: i32 = p
            .parse()
            .map_err(|_| format!("reset file line {}: bad partition {p:?}", i + 1))?;
        let o: i64 = o
            .parse()
            .map_err(|_| format!("reset file line {}: bad offset {o:?}", i + 1))?;
        out.entry(group).or_default().push((t.to_string(), p, o));
    }
    Ok(out)
}

/// `--export`: the plan as CSV, without the group column for a single `--group`.
pub fn export_csv(plans: &[(String, Plan)], single_group: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (g, plan) in plans {
        for (t, p, o) in plan {
            out.push(if single_group {
                format!("{t},{p},{o}")
            } else {
                format!("{g},{t},{p},{o}")
            });
        }
    }
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Offsets of every partition of `topic` at `timestamp`, by partition.
fn topic_offsets(
    session: &mut Session,
    topic: &str,
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>, String> {
    let parts = session.partitions(topic, false)?;
    Ok(session
        .list_offsets(topic, &parts, timestamp, READ_UNCOMMITTED)?
        .into_iter()
        .collect())
}

/// The new offsets for `group` (not yet committed); `file` is the group's
/// `--from-file` rows.
pub fn plan(
    session: &mut Session,
    args: &ConsumerGroupsArgs,
    group: &str,
    file: Option<&Plan>,
) -> Result<Plan, String> {
    let specs = [
        args.to_earliest,
        args.to_latest,
        args.to_current,
        args.to_offset.is_some(),
        args.shift_by.is_some(),
        args.to_datetime.is_some(),
        args.by_duration.is_some(),
        args.from_file.is_some(),
    ];
    if specs.iter().filter(|s| **s).count() != 1 {
        return Err("You must choose exactly one of the following reset specifications: --to-datetime, --by-duration, --to-earliest, --to-latest, --shift-by, --from-file, --to-current, --to-offset.".into());
    }
    if file.is_none() && args.topics.is_empty() != args.all_topics {
        return Err("one of --topic or --all-topics is required with --reset-offsets".into());
    }
    let g = groups::describe(session.coordinator(group)?, group)?;
    let state = g.group_state.as_str();
    if !matches!(state, "Empty" | "Dead") {
        return Err(format!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
        ));
    }
    let committed = groups::committed(session.coordinator(group)?, group, None)?;
    let timestamp = match (&args.to_datetime, &args.by_duration) {
        (Some(d), _) => Some(parse_datetime(d)?),
        (_, Some(d)) => Some(now_ms() - parse_duration(d)?),
        _ => None,
    };
    // (topic, only these partitions, offsets from the file)
    let mut targets: Vec<(String, Option<Vec<i32>>)> = Vec::new();
    let mut from_file: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if let Some(rows) = file {
        for (t, p, o) in rows {
            from_file.insert((t.clone(), *p), *o);
        }
        let topics: BTreeSet<String> = rows.iter().map(|(t, _, _)| t.clone()).collect();
        for t in topics {
            let ps = rows.iter().filter(|r| r.0 == t).map(|r| r.1).collect();
            targets.push((t, Some(ps)));
        }
    } else if args.all_topics {
        let topics: BTreeSet<String> = committed.keys().map(|(t, _)| t.clone()).collect();
        targets.extend(topics.into_iter().map(|t| (t, None)));
    }
    if file.is_none() {
        for spec in &args.topics {
            targets.push(parse_topic_spec(spec)?);
        }
    }
    let mut out = Vec::new();
    for (topic, only) in targets {
        let earliest = topic_offsets(session, &topic, EARLIEST_TIMESTAMP)?;
        let latest = topic_offsets(session, &topic, LATEST_TIMESTAMP)?;
        let at_time = match timestamp {
            Some(ts) => Some(topic_offsets(session, &topic, ts)?),
            None => None,
        };
        let parts: Vec<i32> = match only {
            Some(ps) => {
                if let Some(p) = ps.iter().find(|p| !latest.contains_key(p)) {
                    return Err(format!("topic {topic} has no partition {p}"));
                }
                ps
            }
            None => latest.keys().copied().collect(),
        };
        for p in parts {
            let (Some(&lo), Some(&hi)) = (earliest.get(&p), latest.get(&p)) else {
                return Err(format!("no offsets for {topic}-{p}"));
            };
            let current = committed.get(&(topic.clone(), p)).copied();
            let want = if args.to_earliest {
                lo
            } else if args.to_latest {
                hi
            } else if let Some(o) = args.to_offset {
                o
            } else if let Some(s) = args.shift_by {
                current.unwrap_or(hi).saturating_add(s)
            } else if let Some(found) = &at_time {
                // No record at or after the time: the log end, as Kafka resets it.
                found.get(&p).copied().filter(|o| *o >= 0).unwrap_or(hi)
            } else if let Some(o) = from_file.get(&(topic.clone(), p)) {
                *o
            } else {
                current.unwrap_or(hi)
            };
            out.push((topic.clone(), p, want.clamp(lo, hi)));
        }
    }
    Ok(out)
}

/// Commits a plan for `group`.
pub fn execute(session: &mut Session, group: &str, plan: &Plan) -> Result<(), String> {
    let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    for (t, p, o) in plan {
        by_topic.entry(t.clone()).or_default().push((*p, *o));
    }
    for (t, offsets) in by_topic {
        groups::commit(session.coordinator(group)?, group, &t, &offsets)?;
    }
    Ok(())
}

/// `--delete-offsets --group G --topic T[:p,..]`: OffsetDelete, then Kafka's
/// result table (TOPIC, PARTITION, STATUS).
pub fn delete_offsets(
    session: &mut Session,
    group: &str,
    specs: &[String],
) -> Result<Vec<String>, String> {
    let mut wanted: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut missing_topics: Vec<(String, String)> = Vec::new();
    for spec in specs {
        let (topic, only) = parse_topic_spec(spec)?;
        match only {
            Some(ps) => wanted.entry(topic).or_default().extend(ps),
            None => match session.partitions(&topic, false) {
                Ok(ps) => wanted
                    .entry(topic)
                    .or_default()
                    .extend(ps.iter().map(|p| p.partition)),
                Err(e) => missing_topics.push((topic, e)),
            },
        }
    }
    let client = session.coordinator(group)?;
    if !client.supports(ApiKey::OffsetDelete) {
        return Err(format!(
            "the broker at {} does not support OffsetDelete (API key 47), which --delete-offsets needs",
            client.address
        ));
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(
            wanted
                .iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let resp: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, &req)?;
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let mut partition_error = !missing_topics.is_empty();
    for t in &resp.topics {
        for p in &t.partitions {
            let status = if p.error_code == 0 {
                "Successful".to_string()
            } else {
                partition_error = true;
                format!("Error: {}", error_text(p.error_code, None))
            };
            rows.push((t.name.0.to_string(), p.partition_index.to_string(), status));
        }
    }
    for (t, e) in missing_topics {
        rows.push((t, "-".into(), format!("Error: {e}")));
    }
    rows.sort();
    if resp.error_code != 0 {
        return Err(error_text(resp.error_code, None));
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(15);
    let mut out = vec![if partition_error {
        "\nError: Encountered some partition-level error, see the follow-up details.".to_string()
    } else {
        format!("Request succeeded for deleting offsets from group {group}.")
    }];
    out.push(String::new());
    out.push(format!(
        "{:<w$} {:<10} {:<15}",
        "TOPIC", "PARTITION", "STATUS"
    ));
    for (t, p, s) in rows {
        out.push(format!("{t:<w$} {p:<10} {s:<15}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_as_kafka_reads_them() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000"), Ok(0));
        assert_eq!(
            parse_datetime("2024-02-29T12:34:56.789Z"),
            Ok(1_709_210_096_789)
        );
        assert_eq!(
            parse_datetime("2024-02-29T14:34:56.789+02:00"),
            Ok(1_709_210_096_789)
        );
        assert_eq!(
            parse_datetime("2024-02-29T14:34:56.789+0200"),
            Ok(1_709_210_096_789)
        );
        assert_eq!(
            parse_datetime("2024-02-29T10:34:56.789-02"),
            Ok(1_709_210_096_789)
        );
        for bad in [
            "2024-02-30T00:00:00.000",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00.000",
            "soon",
            "2024-01-01T00:00:00.000+1\u{e9}1",
            "2024-01-01T00:00:00.000Z1",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_as_java_parses_them() {
        assert_eq!(parse_duration("PT1H"), Ok(3_600_000));
        assert_eq!(parse_duration("P1DT30M"), Ok(86_400_000 + 1_800_000));
        assert_eq!(parse_duration("pt0.5s"), Ok(500));
        assert_eq!(parse_duration("-PT1M"), Ok(-60_000));
        for bad in ["P", "PT", "1H", "PT1X", "P1H"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_read_and_export_both_csv_layouts() {
        let one = parse_plan("t,0,5\nt,1,7\n", &["g".into()]).unwrap();
        assert_eq!(one["g"], vec![("t".into(), 0, 5), ("t".into(), 1, 7)]);
        let many = parse_plan("a,t,0,5\nb,t,0,1", &[]).unwrap();
        assert_eq!(many["b"], vec![("t".into(), 0, 1)]);
        assert!(parse_plan("t,0,x", &["g".into()]).is_err());
        let plans = vec![("g".to_string(), one["g"].clone())];
        assert_eq!(export_csv(&plans, true), vec!["t,0,5", "t,1,7"]);
        assert_eq!(export_csv(&plans, false)[0], "g,t,0,5");
    }

    #[test]
    fn reset_table_and_topic_specs() {
        let t = reset_table("g", &[("t".into(), 0, 5)]);
        assert_eq!(
            t[1].trim_end(),
            "GROUP                          TOPIC                          PARTITION  NEW-OFFSET"
        );
        assert_eq!(
            t[2],
            format!("{:<30} {:<30} {:<10} {:<15}", "g", "t", "0", "5")
        );
        assert_eq!(parse_topic_spec("t").unwrap(), ("t".into(), None));
        assert_eq!(
            parse_topic_spec("t:0,2").unwrap(),
            ("t".into(), Some(vec![0, 2]))
        );
        assert!(parse_topic_spec("t:x").is_err());
    }
}
