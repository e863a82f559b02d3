//! How every built-in tool is started: one table (`super::TOOLS`) maps Kafka's
//! script names and gregor's subcommands to a `main`, and [`clap_main`] gives
//! each tool the argument conventions of Kafka's own tools, so command lines
//! copied from Kafka's docs and compose files parse unchanged:
//!
//! - `--version` on every tool (Kafka's joptsimple tools all have it);
//! - single-dash long options (`-topic t`, `-bootstrap-server h:p`), which
//!   joptsimple accepts;
//! - unambiguous prefixes of long options (`--bootstrap h:p`), also joptsimple;
//! - `--flag=value` and `--flag value` alike.

use std::ffi::OsString;
use std::process::ExitCode;

/// What `--version` prints: the Kafka release whose tools these mirror, then
/// gregor's own version.
pub const VERSION_TEXT: &str = concat!("4.1.0 (gregor ", env!("CARGO_PKG_VERSION"), ")");

// The clap parser of one tool's flags, for any `clap::Args` struct (a plain
// comment: a doc comment here would become every tool's help text).
#[derive(Debug, clap::Parser)]
struct Wrapped<A: clap::Args> {
    #[command(flatten)]
    inner: A,
}

/// Parses `argv` (the tool's name as called, then its arguments) as the
/// tool's flags and runs `run`; its lines go to stdout, its error to stderr as `Error: ...` with
/// exit status 1 (Kafka's tools' convention). Bad flags exit 2 with clap's
/// message.
pub fn clap_main<A, F>(mut argv: Vec<OsString>, run: F) -> ExitCode
where
    A: clap::Args + clap::FromArgMatches,
    F: FnOnce(&A) -> Result<Vec<String>, String>,
{
    let name = if argv.is_empty() {
        "gregor".to_string()
    } else {
        let arg0 = argv.remove(0);
        std::path::Path::new(&arg0)
            .file_name()
            .map_or_else(|| "gregor".into(), |n| n.to_string_lossy().into_owned())
    };
    match parse::<A>(&name, argv) {
        Ok(args) => finish(run(&args)),
        Err(code) => code,
    }
}

/// Parses a tool's flags, printing help, version or the error itself.
pub fn parse<A>(name: &str, argv: Vec<OsString>) -> Result<A, ExitCode>
where
    A: clap::Args + clap::FromArgMatches,
{
    use clap::{CommandFactory, FromArgMatches};
    // Kafka's tools print the bare version; clap would prefix the name.
    if argv.iter().any(|a| a == "--version" || a == "-version") {
        println!("{VERSION_TEXT}");
        return Err(ExitCode::SUCCESS);
    }
    let command = <Wrapped<A> as CommandFactory>::command()
        .name(name.to_string())
        .bin_name(name.to_string())
        .disable_version_flag(true)
        .after_help(format!("--version prints {VERSION_TEXT}"))
        .infer_long_args(true);
    let argv = single_dash_longs(&command, argv);
    let mut full = vec![OsString::from(name)];
    full.extend(argv);
    let matches = match command.try_get_matches_from(full) {
        Ok(m) => m,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Err(ExitCode::from(code.clamp(0, 255) as u8));
        }
    };
    match Wrapped::<A>::from_arg_matches(&matches) {
        Ok(w) => Ok(w.inner),
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::from(2))
        }
    }
}

/// Prints a tool's lines, or its error on stderr with exit status 1.
pub fn finish(result: Result<Vec<String>, String>) -> ExitCode {
    use std::io::Write;
    match result {
        Ok(lines) => {
            let mut out = std::io::stdout().lock();
            for l in lines {
                // A closed pipe (`| head`) is not an error of the tool.
                if writeln!(out, "{l}").is_err() {
                    break;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Rewrites `-topic` to `--topic` when `topic` is one of the command's long
/// options (or an unambiguous prefix of one), as joptsimple reads it. Short
/// options (`-h`, `-t X`) and values that merely start with `-` (`-1` for
/// `--request-required-acks`) are left alone.
fn single_dash_longs(command: &clap::Command, argv: Vec<OsString>) -> Vec<OsString> {
    let longs: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["help".to_string()])
        .collect();
    let mut out = Vec::with_capacity(argv.len());
    let mut after_double_dash = false;
    for arg in argv {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if after_double_dash || text == "--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        let rewritten = text
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-') && rest.len() >= 2)
            .and_then(|rest| {
                let name = rest.split_once('=').map_or(rest, |(n, _)| n);
                let starts_alpha = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
                let exact = longs.iter().any(|l| l == name);
                let prefix = longs.iter().filter(|l| l.starts_with(name)).count() == 1;
                (starts_alpha && (exact || (name.len() >= 3 && prefix))).then(|| format!("-{text}"))
            });
        out.push(rewritten.map_or(arg, OsString::from));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Args)]
    struct Demo {
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        bootstrap_server: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        acks: Option<String>,
        #[arg(short = 't', long)]
        cluster_id: Option<String>,
    }

    fn argv(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    #[test]
    fn kafka_style_long_options_parse() {
        let d: Demo = parse(
            "demo",
            argv(&[
                "-topic",
                "t",
                "--bootstrap",
                "h:1",
                "--acks",
                "-1",
                "-t",
                "id",
            ]),
        )
        .unwrap();
        assert_eq!(d.topic.as_deref(), Some("t"));
        assert_eq!(d.bootstrap_server.as_deref(), Some("h:1"));
        assert_eq!(d.acks.as_deref(), Some("-1"));
        assert_eq!(d.cluster_id.as_deref(), Some("id"));
        let d: Demo = parse("demo", argv(&["-bootstrap-server=h:2"])).unwrap();
        assert_eq!(d.bootstrap_server.as_deref(), Some("h:2"));
    }

    #[test]
    fn unknown_flags_are_refused() {
        assert!(parse::<Demo>("demo", argv(&["--nope"])).is_err());
    }
}
