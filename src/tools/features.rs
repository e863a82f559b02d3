//! `gregor features` (also `kafka-features.sh`, Kafka's FeatureCommand).
//! `describe` prints the feature flags the broker's ApiVersions (v3+)
//! advertises; `version-mapping` and `feature-dependencies` answer from Kafka
//! 4.1's own tables (no broker needed). gregor's feature levels are fixed:
//! the broker does not implement UpdateFeatures (key 57), so `upgrade`,
//! `downgrade` and `disable` print the plan in Kafka's failure lines (with
//! `--dry-run` too) and exit 1.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::admin;
use super::client::{check, Client};

const METADATA_VERSION: &str = "metadata.version";
/// The first ApiVersions version with feature flags.
const FEATURES_API_VERSION: i16 = 3;

/// Kafka 4.1's metadata versions: feature level and name (`MetadataVersion`).
const METADATA_VERSIONS: &[(i16, &str)] = &[
    (7, "3.3-IV3"),
    (8, "3.4-IV0"),
    (9, "3.5-IV0"),
    (10, "3.5-IV1"),
    (11, "3.5-IV2"),
    (12, "3.6-IV0"),
    (13, "3.6-IV1"),
    (14, "3.6-IV2"),
    (15, "3.7-IV0"),
    (16, "3.7-IV1"),
    (17, "3.7-IV2"),
    (18, "3.7-IV3"),
    (19, "3.7-IV4"),
    (20, "3.8-IV0"),
    (21, "3.9-IV0"),
    (22, "4.0-IV0"),
    (23, "4.0-IV1"),
    (24, "4.0-IV2"),
    (25, "4.0-IV3"),
    (26, "4.1-IV0"),
    (27, "4.1-IV1"),
    (28, "4.2-IV0"),
    (29, "4.2-IV1"),
];
/// Kafka 4.1's latest production metadata version.
const LATEST_PRODUCTION_LEVEL: i16 = 27;

/// One level of a production feature: level, the metadata version level it
/// comes with by default, and what it needs (feature, level).
type FeatureLevel = (i16, i16, &'static [(&'static str, i16)]);

/// Kafka 4.1's production features, in its order, with their levels.
const FEATURES: &[(&str, &[FeatureLevel])] = &[
    ("kraft.version", &[(0, 7, &[]), (1, 21, &[])]),
    (
        "transaction.version",
        &[(0, 7, &[]), (1, 24, &[]), (2, 24, &[])],
    ),
    ("group.version", &[(0, 7, &[]), (1, 22, &[])]),
    (
        "eligible.leader.replicas.version",
        &[(0, 7, &[]), (1, 26, &[(METADATA_VERSION, 23)])],
    ),
    ("share.version", &[(0, 7, &[]), (1, 28, &[])]),
    ("streams.version", &[(0, 7, &[]), (1, 29, &[])]),
];

#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Brokers to connect to, host:port[,host:port] (`:9092` = localhost).
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Controllers to connect to; gregor's controller answers on the broker's
    /// listeners.
    #[arg(long)]
    pub bootstrap_controller: Option<String>,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
    #[command(subcommand)]
    pub command: FeaturesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum FeaturesCommand {
    /// Describes the current active feature flags.
    Describe,
    /// Upgrade one or more feature flags.
    Upgrade {
        /// The level to which we should upgrade the metadata (deprecated).
        #[arg(long)]
        metadata: Option<String>,
        /// The release version to upgrade to.
        #[arg(long)]
        release_version: Option<String>,
        /// A feature upgrade, `name=level` (repeatable).
        #[arg(long)]
        feature: Vec<String>,
        /// Validate without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Downgrade one or more feature flags.
    Downgrade {
        #[arg(long)]
        metadata: Option<String>,
        #[arg(long)]
        release_version: Option<String>,
        #[arg(long)]
        feature: Vec<String>,
        /// Allow a downgrade that loses metadata.
        #[arg(long = "unsafe")]
        unsafe_: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Disable one or more feature flags (set them to level 0).
    Disable {
        /// A feature name (repeatable).
        #[arg(long)]
        feature: Vec<String>,
        #[arg(long = "unsafe")]
        unsafe_: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// The feature levels a release version comes with.
    VersionMapping {
        #[arg(long)]
        release_version: Option<String>,
    },
    /// The dependencies of feature levels, `name=level` (repeatable).
    FeatureDependencies {
        #[arg(long, required = true)]
        feature: Vec<String>,
    },
}

fn level_name(level: i16) -> Option<&'static str> {
    METADATA_VERSIONS
        .iter()
        .find(|(l, _)| *l == level)
        .map(|(_, n)| *n)
}

/// A level as Kafka's tool prints it: metadata.version by name.
fn level_text(feature: &str, level: i16) -> String {
    if feature != METADATA_VERSION {
        return level.to_string();
    }
    level_name(level).map_or_else(|| format!("UNKNOWN {level}"), str::to_string)
}

/// `3.7` (the release's last version) or `3.7-IV1`, as Kafka's
/// `MetadataVersion.fromVersionString` reads it.
pub fn metadata_level(release: &str) -> Option<i16> {
    let key: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
    let key = if release.split('.').count() > 2 {
        key
    } else {
        release.to_string()
    };
    METADATA_VERSIONS
        .iter()
        .filter(|(_, n)| *n == key || n.split('-').next() == Some(key.as_str()))
        .map(|(l, _)| *l)
        .max()
}

/// The level of `levels` a metadata version comes with (Kafka's
/// `Feature.defaultLevel`).
fn default_level(levels: &[FeatureLevel], metadata: i16) -> i16 {
    levels
        .iter()
        .take_while(|(_, mv, _)| *mv <= metadata)
        .last()
        .map_or(0, |(l, _, _)| *l)
}

/// `name=level`.
pub fn name_and_level(input: &str) -> Result<(String, i16), String> {
    let (name, level) = input.split_once('=').ok_or_else(|| {
        format!("Can't parse feature=level string {input}: equals sign not found.")
    })?;
    let level = level.trim();
    let parsed = level.parse().map_err(|_| {
        format!("Can't parse feature=level string {input}: unable to parse {level} as a short.")
    })?;
    Ok((name.trim().to_string(), parsed))
}

pub fn version_mapping(release: Option<&str>) -> Result<Vec<String>, String> {
    let latest = level_name(LATEST_PRODUCTION_LEVEL).unwrap_or_default();
    let release = release.unwrap_or(latest);
    let level = metadata_level(release).ok_or_else(|| {
        format!("Unknown release version '{release}'. Supported versions are: 3.3-IV3 to {latest}")
    })?;
    let mut out = vec![format!("{METADATA_VERSION}={level} ({release})")];
    for (name, levels) in FEATURES {
        out.push(format!("{name}={}", default_level(levels, level)));
    }
    Ok(out)
}

pub fn feature_dependencies(features: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in features {
        let (name, level) = name_and_level(f)?;
        if name == METADATA_VERSION {
            let text =
                level_name(level).ok_or_else(|| format!("Unknown metadata.version {level}"))?;
            out.push(format!("{name}={level} ({text}) has no dependencies."));
            continue;
        }
        let (_, levels) = FEATURES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| format!("Unknown feature: {name}"))?;
        let (_, _, deps) = levels
            .iter()
            .find(|(l, _, _)| *l == level)
            .ok_or_else(|| format!("No feature:{name} with feature level {level}"))?;
        if deps.is_empty() {
            out.push(format!("{name}={level} has no dependencies."));
            continue;
        }
        out.push(format!("{name}={level} requires:"));
        for (dep, dep_level) in *deps {
            if *dep == METADATA_VERSION {
                out.push(format!(
                    "    {dep}={dep_level} ({})",
                    level_text(dep, *dep_level)
                ));
            } else {
                out.push(format!("    {dep}={dep_level}"));
            }
        }
    }
    Ok(out)
}

fn connect(args: &FeaturesArgs) -> Result<Client, String> {
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let address = admin::one_of_bootstrap(
        args.bootstrap_server.as_deref(),
        args.bootstrap_controller.as_deref(),
    )?;
    Client::connect(&address, admin::REQUEST_TIMEOUT)
}

fn describe(client: &mut Client) -> Result<Vec<String>, String> {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("gregor-tools"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let version = client
        .version_for::<ApiVersionsRequest>(ApiKey::ApiVersions)?
        .max(FEATURES_API_VERSION);
    let resp: ApiVersionsResponse = client.call_at(ApiKey::ApiVersions, version, &req)?;
    check(resp.error_code, None)?;
    if resp.supported_features.is_empty() {
        eprintln!("Note: the broker advertises no feature flags in ApiVersions");
    }
    let epoch = if resp.finalized_features_epoch >= 0 {
        resp.finalized_features_epoch.to_string()
    } else {
        "-".into()
    };
    let mut features: Vec<_> = resp.supported_features.iter().collect();
    features.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(features
        .into_iter()
        .map(|f| {
            let name = f.name.as_str();
            let finalized = resp
                .finalized_features
                .iter()
                .find(|x| x.name.as_str() == name)
                .map_or(0, |x| x.max_version_level);
            format!(
                "Feature: {name}\tSupportedMinVersion: {}\tSupportedMaxVersion: {}\tFinalizedVersionLevel: {}\tEpoch: {epoch}",
                level_text(name, f.min_version),
                level_text(name, f.max_version),
                level_text(name, finalized),
            )
        })
        .collect())
}

/// The updates an upgrade or downgrade asks for, by feature name.
fn planned_updates(
    op: &str,
    metadata: Option<&str>,
    release: Option<&str>,
    features: &[String],
) -> Result<BTreeMap<String, i16>, String> {
    if release.is_some() && (metadata.is_some() || !features.is_empty()) {
        return Err("Can not specify `release-version` with other feature flags.".into());
    }
    let mut updates = BTreeMap::new();
    let unknown = |v: &str| {
        format!("Unknown metadata.version {v}. Supported metadata.version are 3.3-IV3 to 4.1-IV1")
    };
    if let Some(r) = release {
        let level = metadata_level(r).ok_or_else(|| unknown(r))?;
        updates.insert(METADATA_VERSION.to_string(), level);
        for (name, levels) in FEATURES {
            let l = default_level(levels, level);
            if op != "upgrade" || l > 0 {
                updates.insert((*name).to_string(), l);
            }
        }
        return Ok(updates);
    }
    if let Some(m) = metadata {
        println!(" `metadata` flag is deprecated and may be removed in a future release.");
        updates.insert(
            METADATA_VERSION.to_string(),
            metadata_level(m).ok_or_else(|| unknown(m))?,
        );
    }
    for f in features {
        let (name, level) = name_and_level(f)?;
        if updates.insert(name.clone(), level).is_some() {
            return Err(format!("Feature {name} was specified more than once."));
        }
    }
    Ok(updates)
}

/// Kafka's per-feature failure lines for updates the broker cannot make.
fn refuse(op: &str, updates: &BTreeMap<String, i16>, dry_run: bool) -> Result<Vec<String>, String> {
    if updates.is_empty() {
        return Err(format!("You must specify at least one feature to {op}"));
    }
    let helper = if dry_run { "Can not" } else { "Could not" };
    for (name, level) in updates {
        let what = if op == "disable" {
            format!("disable {name}")
        } else {
            format!("{op} {name} to {level}")
        };
        println!(
            "{helper} {what}. gregor's feature levels are fixed: the broker does not implement UpdateFeatures (API key 57)."
        );
    }
    Err(format!(
        "{} out of {} operation(s) failed.",
        updates.len(),
        updates.len()
    ))
}

pub fn run(args: &FeaturesArgs) -> Result<Vec<String>, String> {
    match &args.command {
        FeaturesCommand::Describe => describe(&mut connect(args)?),
        FeaturesCommand::VersionMapping { release_version } => {
            version_mapping(release_version.as_deref())
        }
        FeaturesCommand::FeatureDependencies { feature } => feature_dependencies(feature),
        FeaturesCommand::Upgrade {
            metadata,
            release_version,
            feature,
            dry_run,
        } => {
            let updates = planned_updates(
                "upgrade",
                metadata.as_deref(),
                release_version.as_deref(),
                feature,
            )?;
            connect(args)?;
            refuse("upgrade", &updates, *dry_run)
        }
        FeaturesCommand::Downgrade {
            metadata,
            release_version,
            feature,
            dry_run,
            ..
        } => {
            let updates = planned_updates(
                "downgrade",
                metadata.as_deref(),
                release_version.as_deref(),
                feature,
            )?;
            connect(args)?;
            refuse("downgrade", &updates, *dry_run)
        }
        FeaturesCommand::Disable {
            feature, dry_run, ..
        } => {
            let mut updates = BTreeMap::new();
            for f in feature {
                if updates.insert(f.clone(), 0).is_some() {
                    return Err(format!("Feature {f} was specified more than once."));
                }
            }
            connect(args)?;
            refuse("disable", &updates, *dry_run)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions() {
        assert_eq!(metadata_level("4.1"), Some(27));
        assert_eq!(metadata_level("4.0"), Some(25));
        assert_eq!(metadata_level("3.7-IV1"), Some(16));
        assert_eq!(metadata_level("3.8.1"), Some(20));
        assert_eq!(metadata_level("2.8"), None);
    }

    #[test]
    fn mapping_of_the_latest_release() {
        let m = version_mapping(None).unwrap();
        assert_eq!(m[0], "metadata.version=27 (4.1-IV1)");
        assert!(m.contains(&"transaction.version=2".to_string()));
        assert!(m.contains(&"eligible.leader.replicas.version=1".to_string()));
        assert!(m.contains(&"share.version=0".to_string()));
        assert!(version_mapping(Some("9.9")).is_err());
    }

    #[test]
    fn dependencies() {
        let d = feature_dependencies(&["eligible.leader.replicas.version=1".into()]).unwrap();
        assert_eq!(
            d,
            vec![
                "eligible.leader.replicas.version=1 requires:".to_string(),
                "    metadata.version=23 (4.0-IV1)".to_string(),
            ]
        );
        let d = feature_dependencies(&["metadata.version=27".into()]).unwrap();
        assert_eq!(
            d,
            vec!["metadata.version=27 (4.1-IV1) has no dependencies.".to_string()]
        );
        assert!(feature_dependencies(&["nope=1".into()]).is_err());
        assert!(feature_dependencies(&["group.version".into()]).is_err());
    }

    #[test]
    fn upgrade_plans() {
        let p = planned_updates("upgrade", None, Some("4.0"), &[]).unwrap();
        assert_eq!(p.get("metadata.version"), Some(&25));
        assert_eq!(p.get("share.version"), None);
        assert!(planned_updates("upgrade", None, Some("4.0"), &["a=1".into()]).is_err());
        assert!(planned_updates("upgrade", None, None, &["a=1".into(), "a=2".into()]).is_err());
    }
}
