//! `gregor consumer-groups` (also run as `kafka-consumer-groups.sh`): `--list`,
//! `--describe` (offsets and lag, `--members`, `--state`) for one group or
//! `--all-groups`, `--delete`, and `--reset-offsets` with Kafka's table layouts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::describe_groups_response::DescribedGroup;

use super::groups::{self, assigned_partitions, Committed};
use super::session::{Session, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

/// What Kafka's tool prints for a value it does not have.
const MISSING: &str = "-";
const READ_UNCOMMITTED: i8 = 0;

#[derive(Debug, clap::Args)]
pub struct ConsumerGroupsArgs {
    #[arg(long)]
    pub bootstrap_server: String,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub describe: bool,
    #[arg(long)]
    pub delete: bool,
    #[arg(long)]
    pub reset_offsets: bool,
    /// Group (repeatable for --describe and --delete).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    #[arg(long)]
    pub all_groups: bool,
    /// With --describe: the members instead of the offsets.
    #[arg(long)]
    pub members: bool,
    /// With --describe: the group state; with --list: also each group's state.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// Accepted with --describe --members.
    #[arg(long)]
    pub verbose: bool,
    /// With --describe: the offsets (the default).
    #[arg(long)]
    pub offsets: bool,
    /// With --reset-offsets: `topic` or `topic:0,1` (repeatable).
    #[arg(long = "topic")]
    pub topics: Vec<String>,
    /// With --reset-offsets: every topic the group has offsets for.
    #[arg(long)]
    pub all_topics: bool,
    #[arg(long)]
    pub to_earliest: bool,
    #[arg(long)]
    pub to_latest: bool,
    #[arg(long)]
    pub to_current: bool,
    #[arg(long)]
    pub to_offset: Option<i64>,
    #[arg(long, allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    #[arg(long)]
    pub execute: bool,
    #[arg(long)]
    pub dry_run: bool,
    /// Accepted for compatibility (client properties file); not read.
    #[arg(long)]
    pub command_config: Option<String>,
    /// Accepted for compatibility.
    #[arg(long)]
    pub timeout: Option<u64>,
}

/// One row of `--describe` (offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRow {
    pub group: String,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub log_end: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| MISSING.to_string(), T::to_string)
}

/// Left-aligns `cells` in columns of at least `widths` (the last column unpadded),
/// joined by single spaces, as Kafka's `%-Ns` formats do.
pub fn row(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match widths.get(i) {
            Some(&w) => out.push_str(&format!("{c:<w$}")),
            None => out.push_str(c),
        }
    }
    out
}

/// Kafka's offsets table: a blank line, the header, one line per row.
pub fn offsets_table(rows: &[OffsetRow]) -> Vec<String> {
    let width = |f: &dyn Fn(&OffsetRow) -> usize| rows.iter().map(f).max().unwrap_or(0).max(15);
    let g = width(&|r| r.group.len());
    let t = width(&|r| opt(&r.topic).len());
    let c = width(&|r| opt(&r.consumer_id).len());
    let h = width(&|r| opt(&r.host).len());
    let widths = [g, t, 10, 15, 15, 15, c, h];
    let mut out = vec![String::new()];
    let header = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ];
    out.push(row(&header.map(String::from), &widths));
    for r in rows {
        let lag = match (r.offset, r.log_end) {
            (Some(o), Some(e)) => Some((e - o).max(0)),
            _ => None,
        };
        out.push(row(
            &[
                r.group.clone(),
                opt(&r.topic),
                opt(&r.partition),
                opt(&r.offset),
                opt(&r.log_end),
                opt(&lag),
                opt(&r.consumer_id),
                opt(&r.host),
                opt(&r.client_id),
            ],
            &widths,
        ));
    }
    out
}

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

/// Parses a `--topic` of `--reset-offsets`: `name` or `name:0,2`.
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

struct Tool {
    session: Session,
}

impl Tool {
    fn describe_group(&mut self, group: &str) -> Result<DescribedGroup, String> {
        let c = self.session.coordinator(group)?;
        groups::describe(c, group)
    }

    fn committed(&mut self, group: &str) -> Result<Committed, String> {
        let c = self.session.coordinator(group)?;
        groups::committed(c, group, None)
    }

    /// Offsets of every partition of `topic` at `timestamp`, by partition.
    fn topic_offsets(&mut self, topic: &str, timestamp: i64) -> Result<BTreeMap<i32, i64>, String> {
        let parts = self.session.partitions(topic, false)?;
        Ok(self
            .session
            .list_offsets(topic, &parts, timestamp, READ_UNCOMMITTED)?
            .into_iter()
            .collect())
    }

    fn all_groups(&mut self) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = groups::list(&mut self.session.bootstrap)?
            .iter()
            .map(|g| g.group_id.0.to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    fn offset_rows(&mut self, group: &str, g: &DescribedGroup) -> Result<Vec<OffsetRow>, String> {
        let committed = self.committed(group)?;
        let mut owner: BTreeMap<(String, i32), usize> = BTreeMap::new();
        for (i, m) in g.members.iter().enumerate() {
            for tp in assigned_partitions(&m.member_assignment) {
                owner.insert(tp, i);
            }
        }
        let keys: BTreeSet<(String, i32)> = committed.keys().chain(owner.keys()).cloned().collect();
        let mut log_ends: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
        let mut rows = Vec::new();
        for (topic, partition) in keys {
            if !log_ends.contains_key(&topic) {
                let ends = self
                    .topic_offsets(&topic, LATEST_TIMESTAMP)
                    .unwrap_or_default();
                log_ends.insert(topic.clone(), ends);
            }
            let member = owner
                .get(&(topic.clone(), partition))
                .map(|&i| &g.members[i]);
            rows.push(OffsetRow {
                group: group.to_string(),
                log_end: log_ends[&topic].get(&partition).copied(),
                offset: committed.get(&(topic.clone(), partition)).copied(),
                topic: Some(topic),
                partition: Some(partition),
                consumer_id: member.map(|m| m.member_id.to_string()),
                host: member.map(|m| m.client_host.to_string()),
                client_id: member.map(|m| m.client_id.to_string()),
            });
        }
        // Members without partitions still get a line, as in Kafka's output.
        for m in &g.members {
            if assigned_partitions(&m.member_assignment).is_empty() {
                rows.push(OffsetRow {
                    group: group.to_string(),
                    topic: None,
                    partition: None,
                    offset: None,
                    log_end: None,
                    consumer_id: Some(m.member_id.to_string()),
                    host: Some(m.client_host.to_string()),
                    client_id: Some(m.client_id.to_string()),
                });
            }
        }
        Ok(rows)
    }

    /// Kafka's notes about a group's state before a table; false when the group does
    /// not exist (nothing to print).
    fn state_notes(group: &str, g: &DescribedGroup, errors: &mut Vec<String>) -> bool {
        match g.group_state.as_str() {
            "Dead" => {
                errors.push(format!("Consumer group '{group}' does not exist."));
                return false;
            }
            "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
            "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
                eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
            }
            _ => {}
        }
        true
    }

    fn describe(
        &mut self,
        args: &ConsumerGroupsArgs,
        names: &[String],
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for group in names {
            let g = self.describe_group(group)?;
            if !Self::state_notes(group, &g, &mut errors) {
                continue;
            }
            if args.state.is_some() {
                let id = self.session.coordinator_id(group)?;
                let coordinator = format!("{} ({id})", self.session.node(id)?.address);
                let fmt = |a: &str, b: &str, c: &str, d: &str, e: &str| {
                    format!("{a:<25} {b:<25} {c:<20} {d:<15} {e}")
                };
                out.push(String::new());
                out.push(fmt(
                    "GROUP",
                    "COORDINATOR (ID)",
                    "ASSIGNMENT-STRATEGY",
                    "STATE",
                    "#MEMBERS",
                ));
                out.push(fmt(
                    group,
                    &coordinator,
                    g.protocol_data.as_str(),
                    g.group_state.as_str(),
                    &g.members.len().to_string(),
                ));
            } else if args.members {
                let widths = |f: &dyn Fn(
                    &kafka_protocol::messages::describe_groups_response::DescribedGroupMember,
                ) -> usize| {
                    g.members.iter().map(f).max().unwrap_or(0).max(15)
                };
                let w = [
                    group.len().max(15),
                    widths(&|m| m.member_id.len()),
                    widths(&|m| m.client_host.len()),
                    widths(&|m| m.client_id.len()),
                ];
                out.push(String::new());
                out.push(row(
                    &["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"].map(String::from),
                    &w,
                ));
                for m in &g.members {
                    out.push(row(
                        &[
                            group.clone(),
                            m.member_id.to_string(),
                            m.client_host.to_string(),
                            m.client_id.to_string(),
                            assigned_partitions(&m.member_assignment).len().to_string(),
                        ],
                        &w,
                    ));
                }
            } else {
                let rows = self.offset_rows(group, &g)?;
                if !rows.is_empty() {
                    out.extend(offsets_table(&rows));
                }
            }
        }
        if !errors.is_empty() {
            for l in &out {
                println!("{l}");
            }
            return Err(errors.join("\n"));
        }
        Ok(out)
    }

    fn reset(&mut self, args: &ConsumerGroupsArgs, group: &str) -> Result<Vec<String>, String> {
        let specs = [
            args.to_earliest,
            args.to_latest,
            args.to_current,
            args.to_offset.is_some(),
            args.shift_by.is_some(),
        ];
        if specs.iter().filter(|s| **s).count() != 1 {
            return Err("exactly one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by is required".into());
        }
        if args.topics.is_empty() == !args.all_topics {
            return Err("one of --topic or --all-topics is required with --reset-offsets".into());
        }
        let g = self.describe_group(group)?;
        let state = g.group_state.as_str();
        if !matches!(state, "Empty" | "Dead") {
            return Err(format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
            ));
        }
        let committed = self.committed(group)?;
        let mut targets: Vec<(String, Option<Vec<i32>>)> = Vec::new();
        if args.all_topics {
            let topics: BTreeSet<String> = committed.keys().map(|(t, _)| t.clone()).collect();
            targets.extend(topics.into_iter().map(|t| (t, None)));
        }
        for spec in &args.topics {
            targets.push(parse_topic_spec(spec)?);
        }
        let mut new_offsets: Vec<(String, i32, i64)> = Vec::new();
        for (topic, only) in targets {
            let earliest = self.topic_offsets(&topic, EARLIEST_TIMESTAMP)?;
            let latest = self.topic_offsets(&topic, LATEST_TIMESTAMP)?;
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
                let (lo, hi) = (earliest[&p], latest[&p]);
                let current = committed.get(&(topic.clone(), p)).copied();
                let want = if args.to_earliest {
                    lo
                } else if args.to_latest {
                    hi
                } else if let Some(o) = args.to_offset {
                    o
                } else if let Some(s) = args.shift_by {
                    current.unwrap_or(hi).saturating_add(s)
                } else {
                    current.unwrap_or(hi)
                };
                new_offsets.push((topic.clone(), p, want.clamp(lo, hi)));
            }
        }
        if args.execute {
            let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
            for (t, p, o) in &new_offsets {
                by_topic.entry(t.clone()).or_default().push((*p, *o));
            }
            for (t, offsets) in by_topic {
                let c = self.session.coordinator(group)?;
                groups::commit(c, group, &t, &offsets)?;
            }
        } else if !args.dry_run {
            eprintln!("WARN: No action will be performed as the --execute option is missing. Add --execute to reset the offsets, or --dry-run to only show them.");
        }
        Ok(reset_table(group, &new_offsets))
    }

    fn delete(&mut self, names: &[String]) -> Result<Vec<String>, String> {
        let mut failed = Vec::new();
        for group in names {
            let c = self.session.coordinator(group)?;
            if let Err(e) = groups::delete(c, group) {
                failed.push(format!(
                    "* Group '{group}' could not be deleted due to: {e}"
                ));
            }
        }
        if !failed.is_empty() {
            return Err(format!(
                "Deletion of some consumer groups failed:\n{}",
                failed.join("\n")
            ));
        }
        let quoted: Vec<String> = names.iter().map(|g| format!("'{g}'")).collect();
        Ok(vec![format!(
            "Deletion of requested consumer groups ({}) was successful.",
            quoted.join(", ")
        )])
    }
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &ConsumerGroupsArgs) -> Result<Vec<String>, String> {
    let actions = [args.list, args.describe, args.delete, args.reset_offsets];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err(
            "exactly one of --list, --describe, --delete, --reset-offsets is required".into(),
        );
    }
    let mut tool = Tool {
        session: Session::connect(&args.bootstrap_server, Duration::from_secs(30))?,
    };
    let names = if args.all_groups {
        tool.all_groups()?
    } else {
        args.groups.clone()
    };
    if !args.list && names.is_empty() && !args.all_groups {
        return Err("--group or --all-groups is required".into());
    }
    if args.list {
        let listed = groups::list(&mut tool.session.bootstrap)?;
        let mut rows: Vec<(String, String)> = listed
            .iter()
            .map(|g| (g.group_id.0.to_string(), g.group_state.to_string()))
            .collect();
        rows.sort();
        return Ok(match &args.state {
            None => rows.into_iter().map(|(g, _)| g).collect(),
            Some(filter) => {
                let w = rows.iter().map(|(g, _)| g.len()).max().unwrap_or(0).max(15);
                let mut out = vec![row(&["GROUP".into(), "STATE".into()], &[w])];
                for (g, s) in rows {
                    if filter.is_empty()
                        || filter.split(',').any(|f| f.trim().eq_ignore_ascii_case(&s))
                    {
                        out.push(row(&[g, s], &[w]));
                    }
                }
                out
            }
        });
    }
    if args.describe {
        return tool.describe(args, &names);
    }
    if args.delete {
        return tool.delete(&names);
    }
    let mut out = Vec::new();
    for g in &names {
        out.extend(tool.reset(args, g)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_table_pads_like_kafka() {
        let rows = vec![
            OffsetRow {
                group: "g".into(),
                topic: Some("orders".into()),
                partition: Some(0),
                offset: Some(3),
                log_end: Some(10),
                consumer_id: None,
                host: None,
                client_id: None,
            },
            OffsetRow {
                group: "g".into(),
                topic: Some("orders".into()),
                partition: Some(1),
                offset: None,
                log_end: Some(4),
                consumer_id: Some("consumer-1-abc".into()),
                host: Some("/10.0.0.1".into()),
                client_id: Some("consumer-1".into()),
            },
        ];
        let t = offsets_table(&rows);
        assert_eq!(t[0], "");
        assert_eq!(
            t[1],
            "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID"
        );
        assert_eq!(
            t[2],
            "g               orders          0          3               10              7               -               -               -"
        );
        assert_eq!(
            t[3],
            "g               orders          1          -               4               -               consumer-1-abc  /10.0.0.1       consumer-1"
        );
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
