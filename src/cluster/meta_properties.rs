//! `meta.properties`: the file `kafka-storage format` writes into a data
//! directory, naming the cluster and node the directory belongs to.
//!
//! Kafka refuses to start on a directory formatted for another cluster or
//! node, which is what keeps a volume mounted into the wrong container (or a
//! changed `CLUSTER_ID`) from mixing two clusters' data. gregor does the same,
//! and also accepts an unformatted directory (it writes the file at first
//! start, as the apache/kafka image's start script would have by formatting),
//! so `docker run` and `cargo run` need no separate format step. The cluster
//! id itself is also in the metadata log; this file is what `kafka-storage`
//! and stacks' start scripts (testcontainers' Go module formats with
//! `kafka-storage random-uuid`) can set before the broker first runs.

use std::io;
use std::path::{Path, PathBuf};

use crate::storage;

/// The file's name in the data directory (Kafka's `MetaPropertiesEnsemble`).
pub const META_PROPERTIES_FILE: &str = "meta.properties";
/// Kafka's KRaft layout of the file.
const VERSION: &str = "1";

/// Why a data directory's identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}; fix or remove the file (it only records which cluster and node own this directory)")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path} says cluster.id {stored}, but the configuration sets cluster.id (CLUSTER_ID) {configured}; this directory belongs to another cluster: use cluster.id={stored} or an empty data directory")]
    ClusterMismatch {
        path: PathBuf,
        stored: String,
        configured: String,
    },
    #[error("{path} says node.id {stored}, but the configuration sets node.id {configured}; use node.id={stored} or an empty data directory")]
    NodeMismatch {
        path: PathBuf,
        stored: i32,
        configured: i32,
    },
}

/// The contents of `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    /// Kafka's per-directory id (KIP-858), random at format time.
    pub directory_id: String,
}

impl MetaProperties {
    /// A new identity for `node_id` in `cluster_id`, with a fresh directory id.
    pub fn new(cluster_id: &str, node_id: i32) -> MetaProperties {
        MetaProperties {
            cluster_id: cluster_id.to_string(),
            node_id,
            directory_id: super::random_cluster_id(),
        }
    }

    /// Reads `dir/meta.properties`; Ok(None) when there is none.
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, MetaError> {
        let path = dir.join(META_PROPERTIES_FILE);
        let text = match storage::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(MetaError::Io { path, source }),
        };
        parse(&text)
            .map(Some)
            .map_err(|reason| MetaError::Malformed { path, reason })
    }

    /// Writes `dir/meta.properties` durably (temp file, fsync, rename, fsync).
    pub fn write(&self, dir: &Path) -> Result<(), MetaError> {
        let text = format!(
            "#\n#Written by gregor {}\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion={VERSION}\n",
            env!("CARGO_PKG_VERSION"),
            self.cluster_id,
            self.directory_id,
            self.node_id
        );
        storage::write_file_atomic(dir, META_PROPERTIES_FILE, text.as_bytes()).map_err(|source| {
            MetaError::Io {
                path: dir.join(META_PROPERTIES_FILE),
                source,
            }
        })
    }
}

fn parse(text: &str) -> Result<MetaProperties, String> {
    let mut cluster_id = None;
    let mut node_id = None;
    let mut directory_id = None;
    let mut version = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {line:?} is not key=value"));
        };
        match k.trim() {
            "cluster.id" => cluster_id = Some(v.trim().to_string()),
            "node.id" => {
                node_id = Some(
                    v.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("node.id {v:?} is not a number"))?,
                )
            }
            "directory.id" => directory_id = Some(v.trim().to_string()),
            "version" => version = Some(v.trim().to_string()),
            _ => {}
        }
    }
    match version.as_deref() {
        Some(VERSION) => {}
        Some("0") => return Err("version=0 is a ZooKeeper-mode layout, not a KRaft one".into()),
        Some(other) => return Err(format!("unknown version {other:?}")),
        None => return Err("no version line".into()),
    }
    Ok(MetaProperties {
        cluster_id: cluster_id
            .filter(|c| !c.is_empty())
            .ok_or("no cluster.id")?,
        node_id: node_id.ok_or("no node.id")?,
        directory_id: directory_id.unwrap_or_default(),
    })
}

/// The cluster id a broker must use on `data_dir`: the stored one when the
/// directory is formatted (after checking it, and the node id, against the
/// configuration), else the configured one (None: let the metadata log pick).
pub fn resolve_cluster_id(
    data_dir: &Path,
    node_id: i32,
    configured: Option<&str>,
) -> Result<Option<String>, MetaError> {
    let Some(meta) = MetaProperties::read(data_dir)? else {
        return Ok(configured.map(str::to_string));
    };
    let path = data_dir.join(META_PROPERTIES_FILE);
    if meta.node_id != node_id {
        return Err(MetaError::NodeMismatch {
            path,
            stored: meta.node_id,
            configured: node_id,
        });
    }
    if let Some(configured) = configured.filter(|c| *c != meta.cluster_id) {
        return Err(MetaError::ClusterMismatch {
            path,
            stored: meta.cluster_id,
            configured: configured.to_string(),
        });
    }
    Ok(Some(meta.cluster_id))
}

/// After the metadata log is open: records its cluster id in a directory
/// that has no `meta.properties` yet.
pub fn ensure_written(data_dir: &Path, node_id: i32, cluster_id: &str) -> Result<(), MetaError> {
    if MetaProperties::read(data_dir)?.is_none() {
        MetaProperties::new(cluster_id, node_id).write(data_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), None);
        assert_eq!(
            resolve_cluster_id(dir.path(), 1, Some("abc"))
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        let meta = MetaProperties::new("5L6g3nShT-eMCtK--X86sw", 1);
        meta.write(dir.path()).unwrap();
        assert_eq!(
            MetaProperties::read(dir.path()).unwrap(),
            Some(meta.clone())
        );
        assert_eq!(
            resolve_cluster_id(dir.path(), 1, None).unwrap().as_deref(),
            Some("5L6g3nShT-eMCtK--X86sw")
        );
        let err = resolve_cluster_id(dir.path(), 1, Some("other")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cluster.id 5L6g3nShT-eMCtK--X86sw"),
            "{err}"
        );
        let err = resolve_cluster_id(dir.path(), 2, None).unwrap_err();
        assert!(err.to_string().contains("node.id 1"), "{err}");
        // Left alone when present.
        ensure_written(dir.path(), 1, "zzz").unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(meta));
    }

    #[test]
    fn kafka_written_files_parse_and_bad_ones_are_named() {
        let kafka = "#\n#Tue Dec 01 10:00:00 UTC 2026\nnode.id=1\ndirectory.id=J8aAPcfLQt2bqs1JT_rMgQ\nversion=1\ncluster.id=4L6g3nShT-eMCtK--X86sw\n";
        let m = parse(kafka).unwrap();
        assert_eq!(m.cluster_id, "4L6g3nShT-eMCtK--X86sw");
        assert_eq!(m.node_id, 1);
        assert!(parse("version=0\nbroker.id=1\ncluster.id=x\n")
            .unwrap_err()
            .contains("ZooKeeper"));
        assert!(parse("").unwrap_err().contains("version"));
        assert!(parse("version=1\ncluster.id=x\nnode.id=one\n")
            .unwrap_err()
            .contains("node.id"));
    }
}
