//! `gregor health`: exit 0 when a broker answers ApiVersions, 1 otherwise — what a
//! container HEALTHCHECK needs, with no client library and no shell in the image.
//!
//! Without `--bootstrap-server` it probes the broker it would itself be, as
//! configured by the apache/kafka-style environment (`KAFKA_LISTENERS`,
//! `KAFKA_ADVERTISED_LISTENERS`, ...): the image's HEALTHCHECK then follows a
//! compose file's listeners instead of assuming port 9092.

use std::time::Duration;

use super::client::Client;
use crate::config::BrokerConfig;
use crate::config_env::properties_from_env;

/// Probed when nothing is configured: Kafka's default listener.
const FALLBACK_TARGET: &str = "localhost:9092";

/// `gregor health`'s flags.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Default: the first listener of the KAFKA_* environment (as the broker
    /// in the same container reads it), else localhost:9092.
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

/// Prints one verdict line and nothing else (a healthcheck's output is kept
/// by `docker inspect`): `<target> is up (N APIs)`, or an error.
pub fn run(args: &HealthArgs) -> Result<Vec<String>, String> {
    let target = args
        .bootstrap_server
        .clone()
        .unwrap_or_else(|| target_from_env(std::env::vars()));
    match check(&target, Duration::from_millis(args.timeout_ms)) {
        Ok(apis) => Ok(vec![format!("{target} is up ({apis} APIs)")]),
        Err(e) => Err(format!("{target} is not healthy: {e}")),
    }
}

/// Asks `bootstrap` (host:port) for its API versions. Ok(number of APIs).
pub fn check(bootstrap: &str, timeout: Duration) -> Result<usize, String> {
    Client::connect(bootstrap, timeout).map(|c| c.api_versions().len())
}

/// The address of the first client listener configured by the given
/// environment variables, with a wildcard host probed as `localhost`.
pub fn target_from_env<I>(vars: I) -> String
where
    I: IntoIterator<Item = (String, String)>,
{
    let (pairs, _) = properties_from_env(vars);
    let Ok(config) = BrokerConfig::from_pairs(&pairs) else {
        return FALLBACK_TARGET.to_string();
    };
    match config.listeners.first() {
        Some(l) if l.host.is_empty() || l.host == "0.0.0.0" || l.host == "::" => {
            format!("localhost:{}", l.port)
        }
        Some(l) if l.host.contains(':') => format!("[{}]:{}", l.host, l.port),
        Some(l) => format!("{}:{}", l.host, l.port),
        None => FALLBACK_TARGET.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn target_follows_the_configured_listeners() {
        assert_eq!(target_from_env(vars(&[])), "localhost:9092");
        let internal_external = vars(&[
            (
                "KAFKA_LISTENERS",
                "CONTROLLER://0.0.0.0:9093,INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9094",
            ),
            ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
            (
                "KAFKA_ADVERTISED_LISTENERS",
                "INTERNAL://kafka:29092,EXTERNAL://localhost:9094",
            ),
        ]);
        assert_eq!(target_from_env(internal_external), "localhost:29092");
        let advertised_only = vars(&[("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://broker:19092")]);
        assert_eq!(target_from_env(advertised_only), "localhost:19092");
        let bound = vars(&[("KAFKA_LISTENERS", "PLAINTEXT://127.0.0.1:9500")]);
        assert_eq!(target_from_env(bound), "127.0.0.1:9500");
    }
}
