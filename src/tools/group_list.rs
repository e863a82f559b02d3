//! `kafka-consumer-groups.sh`'s flag checks (which flags go with which
//! action, Kafka's messages), `--list` with its `--state`/`--type` table and
//! `--validate-regex`.

use super::consumer_groups::ConsumerGroupsArgs;
use super::groups;
use super::session::Session;

/// Kafka's `--validate-regex` answer (printed either way; exit status 0).
pub fn validate_regex(re: &str) -> String {
    match regex::Regex::new(re) {
        Ok(_) => format!("The regular expression `{re}` is valid."),
        Err(e) => {
            let why = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            format!("The regular expression `{re}` is invalid: {why}.")
        }
    }
}

/// A group type as Kafka prints it (`Classic`, `Consumer`, ...).
fn type_name(group_type: &str, protocol_type: &str) -> String {
    match group_type.to_ascii_lowercase().as_str() {
        "" if protocol_type == "consumer" || protocol_type.is_empty() => "Classic".into(),
        "" => "Unknown".into(),
        t => {
            let mut c = t.chars();
            c.next()
                .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
        }
    }
}

/// `--list`, with Kafka's GROUP/TYPE/STATE table when `--type` or `--state` is given.
pub fn list(session: &mut Session, args: &ConsumerGroupsArgs) -> Result<Vec<String>, String> {
    const TYPES: &[&str] = &["classic", "consumer"];
    const STATES: &[&str] = &[
        "preparingrebalance",
        "completingrebalance",
        "stable",
        "dead",
        "empty",
        "assigning",
        "reconciling",
    ];
    let split = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let (types, states) = (split(&args.group_type), split(&args.state));
    if let Some(t) = types.iter().find(|t| !TYPES.contains(&t.as_str())) {
        return Err(format!(
            "Invalid types list '{}'. Valid types are: Classic, Consumer (not {t})",
            args.group_type.as_deref().unwrap_or_default()
        ));
    }
    if let Some(s) = states.iter().find(|s| !STATES.contains(&s.as_str())) {
        return Err(format!("Invalid state list '{}'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty, Assigning, Reconciling (not {s})", args.state.as_deref().unwrap_or_default()));
    }
    let listed = groups::list(&mut session.bootstrap)?;
    let mut rows: Vec<(String, String, String)> = listed
        .iter()
        .filter(|g| g.protocol_type.is_empty() || g.protocol_type.as_str() == "consumer")
        .map(|g| {
            (
                g.group_id.0.to_string(),
                type_name(g.group_type.as_str(), g.protocol_type.as_str()),
                g.group_state.to_string(),
            )
        })
        .filter(|(_, t, s)| {
            (types.is_empty() || types.contains(&t.to_ascii_lowercase()))
                && (states.is_empty() || states.contains(&s.to_ascii_lowercase()))
        })
        .collect();
    rows.sort();
    if args.group_type.is_none() && args.state.is_none() {
        return Ok(rows.into_iter().map(|(g, _, _)| g).collect());
    }
    let w = rows
        .iter()
        .map(|(g, _, _)| g.len())
        .max()
        .unwrap_or(0)
        .max(15)
        + 10;
    let line = |g: &str, t: &str, s: &str| {
        let mut l = format!("{g:<w$}");
        if args.group_type.is_some() {
            l.push_str(&format!(" {t:<20}"));
        }
        if args.state.is_some() {
            l.push_str(&format!(" {s:<20}"));
        }
        l
    };
    let mut out = vec![line("GROUP", "TYPE", "STATE")];
    out.extend(rows.iter().map(|(g, t, s)| line(g, t, s)));
    Ok(out)
}

/// Kafka's checks of which flags go with which action (ConsumerGroupCommandOptions).
pub fn check_args(args: &ConsumerGroupsArgs) -> Result<(), String> {
    let actions = [
        args.list,
        args.describe,
        args.delete,
        args.reset_offsets,
        args.delete_offsets,
        args.validate_regex.is_some(),
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets, --validate-regex".into());
    }
    if args.validate_regex.is_some() {
        return Ok(());
    }
    if args.bootstrap_server.is_none() {
        return Err("Missing required argument \"[bootstrap-server]\"".into());
    }
    let scoped = !args.groups.is_empty() || args.all_groups;
    for (on, name) in [
        (args.describe, "describe"),
        (args.delete, "delete"),
        (args.reset_offsets, "reset-offsets"),
    ] {
        if on && !scoped {
            return Err(format!(
                "Option [{name}] takes one of these options: [all-groups], [group]"
            ));
        }
    }
    if !args.groups.is_empty() && args.all_groups {
        return Err("Option \"[group]\" can't be used with option \"[all-groups]\"".into());
    }
    if args.delete_offsets && (args.groups.len() != 1 || args.topics.is_empty()) {
        return Err("Option [delete-offsets] takes the following options: [topic], [group]".into());
    }
    if args.delete && !args.topics.is_empty() {
        return Err(
            "The consumer does not support topic-specific offset deletion from a consumer group."
                .into(),
        );
    }
    if args.describe
        && [args.members, args.offsets, args.state.is_some()]
            .iter()
            .filter(|o| **o)
            .count()
            > 1
    {
        return Err(
            "Option [describe] takes at most one of these options: [members], [offsets], [state]"
                .into(),
        );
    }
    if args.group_type.is_some() && !args.list {
        return Err(format!(
            "Option \"[type]\" can't be used with option \"[{}]\"",
            action_name(args)
        ));
    }
    if args.reset_offsets && args.dry_run && args.execute {
        return Err("Option [reset-offsets] only accepts one of [execute] and [dry-run]".into());
    }
    if args.command_config.is_some() {
        eprintln!("Note: --command-config is accepted; gregor's tools need no client properties (no security protocols).");
    }
    Ok(())
}

fn action_name(args: &ConsumerGroupsArgs) -> &'static str {
    if args.describe {
        "describe"
    } else if args.delete {
        "delete"
    } else if args.reset_offsets {
        "reset-offsets"
    } else if args.delete_offsets {
        "delete-offsets"
    } else {
        "list"
    }
}
