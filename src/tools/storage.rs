//! `kafka-storage.sh` (gregor subcommand `storage`): `format` writes the
//! `meta.properties` that ties a data directory to a cluster id and node id,
//! `random-uuid` prints a new cluster id, `info` shows a directory's state.
//!
//! Stacks and testcontainers' modules run `kafka-storage format` before the
//! first start (the apache/kafka image on every start, relying on the
//! "already formatted" failure being tolerated), and testcontainers-go picks
//! the cluster id with `kafka-storage random-uuid`; the broker then keeps
//! that id (see `cluster::meta_properties`). The flags are Kafka 4.1's; those
//! that configure what gregor fixes (feature levels, dynamic quorums, SCRAM
//! credentials before SASL exists) are accepted with a line on stderr.

use std::path::{Path, PathBuf};

use crate::cluster::meta_properties::{MetaProperties, META_PROPERTIES_FILE};
use crate::config::{read_properties_file, BrokerConfig};

/// The metadata version Kafka 4.1 formats with by default; printed as
/// Kafka prints it, for scripts that look for the line.
const METADATA_VERSION: &str = "4.1-IV1";

#[derive(Debug, clap::Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    pub command: StorageCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum StorageCommand {
    /// Write meta.properties into the log directory of the config file.
    Format(FormatArgs),
    /// Print a new random cluster id (22 characters, base64url).
    RandomUuid,
    /// Show whether the config's log directory is formatted, and for what.
    Info {
        #[arg(short = 'c', long)]
        config: PathBuf,
    },
    /// Kafka's feature levels of a release (gregor's are fixed).
    VersionMapping {
        #[arg(short = 'r', long)]
        release_version: Option<String>,
    },
    /// Kafka's feature dependencies (gregor's levels are fixed).
    FeatureDependencies {
        #[arg(short = 'f', long = "feature")]
        features: Vec<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// The broker's server.properties (log.dirs and node.id are read from it).
    #[arg(short = 'c', long)]
    pub config: PathBuf,
    /// The cluster id to write (e.g. from `kafka-storage random-uuid`).
    #[arg(short = 't', long)]
    pub cluster_id: String,
    /// Succeed when the directory is formatted already.
    #[arg(short = 'g', long)]
    pub ignore_formatted: bool,
    /// SCRAM credentials to create (name=[name=alice,password=...]).
    #[arg(short = 'S', long = "add-scram")]
    pub add_scram: Vec<String>,
    #[arg(short = 'r', long)]
    pub release_version: Option<String>,
    #[arg(short = 'f', long = "feature")]
    pub features: Vec<String>,
    #[arg(short = 's', long)]
    pub standalone: bool,
    #[arg(short = 'N', long)]
    pub no_initial_controllers: bool,
    #[arg(short = 'I', long)]
    pub initial_controllers: Option<String>,
}

pub fn run(args: &StorageArgs) -> Result<Vec<String>, String> {
    match &args.command {
        StorageCommand::Format(f) => format(f),
        StorageCommand::RandomUuid => Ok(vec![crate::cluster::random_cluster_id()]),
        StorageCommand::Info { config } => info(config),
        StorageCommand::VersionMapping { .. } | StorageCommand::FeatureDependencies { .. } => Err(
            "gregor has no feature levels to set or map: it runs one fixed metadata format (the versions it speaks are in kafka-broker-api-versions.sh)".into(),
        ),
    }
}

/// The data directory and node id a config file gives the broker.
fn broker_dir(config: &Path) -> Result<(PathBuf, i32), String> {
    let pairs = read_properties_file(config).map_err(|e| e.to_string())?;
    let c = BrokerConfig::from_pairs(&pairs).map_err(|e| format!("{}: {e}", config.display()))?;
    Ok((c.data_dir, c.node_id))
}

/// A directory is formatted when it has meta.properties, or a metadata log
/// from a gregor that predates the file.
fn is_formatted(dir: &Path) -> bool {
    dir.join(META_PROPERTIES_FILE).exists() || dir.join("__cluster_metadata").exists()
}

fn format(args: &FormatArgs) -> Result<Vec<String>, String> {
    let cluster_id = args.cluster_id.trim();
    if cluster_id.is_empty() || cluster_id.len() > 256 || cluster_id.contains(char::is_whitespace) {
        return Err(format!(
            "cluster id {:?} is not usable: give 1-256 characters without spaces (kafka-storage random-uuid makes one)",
            args.cluster_id
        ));
    }
    let notes = [
        (!args.add_scram.is_empty(), "--add-scram: SCRAM credentials are not stored; gregor has no SASL yet"),
        (args.release_version.is_some(), "--release-version: gregor runs one fixed metadata format"),
        (!args.features.is_empty(), "--feature: gregor's feature levels are fixed"),
        (
            args.standalone || args.no_initial_controllers || args.initial_controllers.is_some(),
            "--standalone/--no-initial-controllers/--initial-controllers: a gregor node is its own one-voter quorum",
        ),
    ];
    for (given, note) in notes {
        if given {
            eprintln!("{note}");
        }
    }
    let (dir, node_id) = broker_dir(&args.config)?;
    if is_formatted(&dir) {
        if args.ignore_formatted {
            return Ok(vec![
                "All of the log directories are already formatted.".into()
            ]);
        }
        return Err(format!(
            "Log directory {} is already formatted. Use --ignore-formatted to ignore this directory and format the others.",
            dir.display()
        ));
    }
    crate::storage::create_dir_durable(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    MetaProperties::new(cluster_id, node_id)
        .write(&dir)
        .map_err(|e| e.to_string())?;
    Ok(vec![format!(
        "Formatting metadata directory {} with metadata.version {METADATA_VERSION}.",
        dir.display()
    )])
}

fn info(config: &Path) -> Result<Vec<String>, String> {
    let (dir, _) = broker_dir(config)?;
    let mut out = vec![
        "Found log directory:".to_string(),
        format!("  {}", dir.display()),
        String::new(),
    ];
    match MetaProperties::read(&dir).map_err(|e| e.to_string())? {
        Some(m) => out.push(format!(
            "Found metadata: {{cluster.id={}, directory.id={}, node.id={}, version=1}}",
            m.cluster_id, m.directory_id, m.node_id
        )),
        None if dir.join("__cluster_metadata").exists() => out.push(
            "Found a metadata log without meta.properties (the broker writes it at its next start)"
                .into(),
        ),
        None => {
            out.push("Found problem:".into());
            out.push(format!("  {} is not formatted.", dir.display()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_then_already_formatted() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("logs");
        let cfg = tmp.path().join("server.properties");
        std::fs::write(&cfg, format!("node.id=3\nlog.dirs={}\n", data.display())).unwrap();
        let args = |g| FormatArgs {
            config: cfg.clone(),
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            ignore_formatted: g,
            add_scram: vec![],
            release_version: None,
            features: vec![],
            standalone: false,
            no_initial_controllers: false,
            initial_controllers: None,
        };
        let out = format(&args(false)).unwrap();
        assert!(
            out[0].starts_with("Formatting metadata directory"),
            "{out:?}"
        );
        let meta = MetaProperties::read(&data).unwrap().unwrap();
        assert_eq!(
            (meta.cluster_id.as_str(), meta.node_id),
            ("MkU3OEVBNTcwNTJENDM2Qk", 3)
        );
        let err = format(&args(false)).unwrap_err();
        assert!(err.contains("is already formatted"), "{err}");
        assert_eq!(
            format(&args(true)).unwrap(),
            vec!["All of the log directories are already formatted.".to_string()]
        );
        let info = info(&cfg).unwrap();
        assert!(info.iter().any(|l| l.contains("node.id=3")), "{info:?}");
        assert_eq!(crate::cluster::random_cluster_id().len(), 22);
    }
}
