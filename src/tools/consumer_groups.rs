//! `gregor consumer-groups` (also run as `kafka-consumer-groups.sh`): Kafka 4.1's
//! actions — `--list` (`--state`, `--type` filters), `--describe` (offsets and
//! lag, `--members [--verbose]`, `--state`) for groups or `--all-groups`,
//! `--delete`, `--reset-offsets` and `--delete-offsets` (both in
//! `group_reset.rs`) and `--validate-regex` — with Kafka's table layouts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::describe_groups_response::DescribedGroup;

use super::group_list::{check_args, list, validate_regex};
use super::group_reset;
use super::groups::{self, assigned_partitions, Committed};
use super::session::{Session, LATEST_TIMESTAMP};

/// What Kafka's tool prints for a value it does not have.
const MISSING: &str = "-";
const READ_UNCOMMITTED: i8 = 0;
/// Kafka's default `--timeout`: how long to wait for the broker's answers, in ms.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, clap::Args)]
pub struct ConsumerGroupsArgs {
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub describe: bool,
    #[arg(long)]
    pub delete: bool,
    #[arg(long)]
    pub reset_offsets: bool,
    /// Delete the group's committed offsets of --topic (OffsetDelete).
    #[arg(long)]
    pub delete_offsets: bool,
    /// Print whether a regex (for KIP-848 subscriptions) is valid; needs no broker.
    #[arg(long, value_name = "REGEX")]
    pub validate_regex: Option<String>,
    /// Group (repeatable for --describe, --delete and --reset-offsets).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// With --describe, --delete or --reset-offsets: every group.
    #[arg(long)]
    pub all_groups: bool,
    /// With --describe: the members instead of the offsets.
    #[arg(long)]
    pub members: bool,
    /// With --describe: the group state; with --list: also each group's state,
    /// or only groups in these states (comma-separated).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// With --list: also each group's type, or only groups of these types
    /// (comma-separated: classic, consumer).
    #[arg(long = "type", num_args = 0..=1, default_missing_value = "")]
    pub group_type: Option<String>,
    /// With --describe --members: each member's assigned partitions too.
    #[arg(long)]
    pub verbose: bool,
    /// With --describe: the offsets (the default).
    #[arg(long)]
    pub offsets: bool,
    /// With --reset-offsets/--delete-offsets: `topic` or `topic:0,1` (repeatable).
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
    #[arg(long, allow_hyphen_values = true)]
    pub to_offset: Option<i64>,
    #[arg(long, allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Reset to the first offset at or after this time: YYYY-MM-DDTHH:mm:SS.sss
    /// with an optional zone (Z, +hh:mm, +hhmm, +hh; none = UTC).
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// Reset to the first offset at or after now minus this ISO-8601 duration (PnDTnHnMnS).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub by_duration: Option<String>,
    /// Reset to the offsets of a CSV file ([group,]topic,partition,offset), as --export writes.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<String>,
    /// With --reset-offsets: print the plan as CSV instead of a table.
    #[arg(long)]
    pub export: bool,
    #[arg(long)]
    pub execute: bool,
    #[arg(long)]
    pub dry_run: bool,
    /// Admin client properties file: accepted; gregor's tools need no client properties.
    #[arg(long)]
    pub command_config: Option<String>,
    /// How long to wait for the broker's answers, in ms (default 30000).
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
                    15,
                ];
                let mut header = vec!["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"];
                if args.verbose {
                    header.push("ASSIGNMENT");
                }
                out.push(String::new());
                out.push(row(
                    &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    &w,
                ));
                for m in &g.members {
                    let assigned = assigned_partitions(&m.member_assignment);
                    let mut cells = vec![
                        group.clone(),
                        m.member_id.to_string(),
                        m.client_host.to_string(),
                        m.client_id.to_string(),
                        assigned.len().to_string(),
                    ];
                    if args.verbose {
                        cells.push(assignment_text(&assigned));
                    }
                    out.push(row(&cells, &w));
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

/// `--verbose` members' ASSIGNMENT column: `topic(0,1),other(2)`, or `-`.
fn assignment_text(assigned: &[(String, i32)]) -> String {
    let mut by_topic: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (t, p) in assigned {
        by_topic.entry(t).or_default().push(p.to_string());
    }
    if by_topic.is_empty() {
        return MISSING.to_string();
    }
    by_topic
        .iter()
        .map(|(t, ps)| format!("{t}({})", ps.join(",")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &ConsumerGroupsArgs) -> Result<Vec<String>, String> {
    check_args(args)?;
    if let Some(re) = &args.validate_regex {
        return Ok(vec![validate_regex(re)]);
    }
    let timeout = Duration::from_millis(args.timeout.unwrap_or(DEFAULT_TIMEOUT_MS));
    let server = args.bootstrap_server.as_deref().unwrap_or_default();
    let mut tool = Tool {
        session: Session::connect(server, timeout)?,
    };
    if args.list {
        return list(&mut tool.session, args);
    }
    if args.delete_offsets {
        return group_reset::delete_offsets(&mut tool.session, &args.groups[0], &args.topics);
    }
    let names = if args.all_groups {
        tool.all_groups()?
    } else {
        args.groups.clone()
    };
    if args.describe {
        return tool.describe(args, &names);
    }
    if args.delete {
        return tool.delete(&names);
    }
    let file = match &args.from_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            Some(group_reset::parse_plan(&text, &args.groups)?)
        }
        None => None,
    };
    let mut plans = Vec::new();
    for g in &names {
        let rows = match &file {
            Some(f) => match f.get(g) {
                Some(rows) => group_reset::plan(&mut tool.session, args, g, Some(rows))?,
                None => {
                    eprintln!("\nError: No reset plan for group {g} found");
                    continue;
                }
            },
            None => group_reset::plan(&mut tool.session, args, g, None)?,
        };
        if args.execute {
            group_reset::execute(&mut tool.session, g, &rows)?;
        }
        plans.push((g.clone(), rows));
    }
    if !args.execute && !args.dry_run {
        eprintln!("WARN: No action will be performed as the --execute option is missing. Add --execute to reset the offsets, or --dry-run to only show them.");
    }
    if args.export {
        return Ok(group_reset::export_csv(&plans, args.groups.len() == 1));
    }
    let mut out = Vec::new();
    for (g, rows) in &plans {
        out.extend(group_reset::reset_table(g, rows));
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
}
