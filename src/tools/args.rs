//! Argument helpers shared by the tools: Kafka's `key=value` options
//! (`--property`, `--producer-property`, `--config`), `--add-config` lists and the
//! `--bootstrap-server` / `--broker-list` pair.

/// Splits `key=value` (the value may contain `=`); `what` names the option in errors.
pub fn key_value(item: &str, what: &str) -> Result<(String, String), String> {
    let (k, v) = item
        .split_once('=')
        .ok_or_else(|| format!("{what} expects key=value, got {item:?}"))?;
    let k = k.trim();
    if k.is_empty() {
        return Err(format!("{what} has an empty key in {item:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Options given as repeated `key=value`, in order (later ones win on lookup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Props(pub Vec<(String, String)>);

impl Props {
    pub fn parse(items: &[String], what: &str) -> Result<Props, String> {
        items
            .iter()
            .map(|i| key_value(i, what))
            .collect::<Result<Vec<_>, _>>()
            .map(Props)
    }

    /// Adds a properties file's entries before the command-line ones (which win).
    pub fn with_file(self, path: Option<&str>) -> Result<Props, String> {
        let Some(path) = path else { return Ok(self) };
        let mut pairs = crate::config::read_properties_file(std::path::Path::new(path))
            .map_err(|e| format!("{path}: {e}"))?;
        pairs.extend(self.0);
        Ok(Props(pairs))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean property (`true`/`false`, any case, as Java's Boolean.parseBoolean
    /// but strict: anything else is an error rather than silently false).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.trim().eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.trim().eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(format!("{key} must be true or false, got {v:?}")),
        }
    }

    /// A string property with escapes (`\t`, `\n`, `\r`, `\\`) decoded, as Kafka's
    /// console tools do for separators.
    pub fn text(&self, key: &str, default: &str) -> String {
        self.get(key).map_or_else(|| default.to_string(), unescape)
    }
}

/// Decodes the escapes Kafka's console tools accept in separators.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `--bootstrap-server`, or the older `--broker-list`, one of which is required.
pub fn bootstrap(server: Option<&str>, broker_list: Option<&str>) -> Result<String, String> {
    server
        .or(broker_list)
        .map(str::to_string)
        .ok_or_else(|| "--bootstrap-server is required".to_string())
}

/// Parses kafka-configs.sh's `--add-config` value: `k1=v1,k2=[a,b],k3=v3`
/// (square brackets group a list value that contains commas).
pub fn config_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = s.as_bytes();
    let mut items = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&s[start..]);
    for item in items.into_iter().filter(|i| !i.trim().is_empty()) {
        let (k, v) = key_value(item.trim(), "--add-config")?;
        let v = v.trim();
        let v = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(v);
        out.push((k, v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_keeps_equals_in_values() {
        assert_eq!(
            key_value("key.separator==", "--property").unwrap(),
            ("key.separator".into(), "=".into())
        );
        assert!(key_value("novalue", "--property").is_err());
        assert!(key_value("=x", "--property").is_err());
    }

    #[test]
    fn props_last_wins_and_flags_are_strict() {
        let p = Props::parse(
            &[
                "parse.key=true".into(),
                "parse.key=FALSE".into(),
                "x=yes".into(),
            ],
            "--property",
        )
        .unwrap();
        assert_eq!(p.flag("parse.key", true), Ok(false));
        assert_eq!(p.flag("missing", true), Ok(true));
        assert!(p.flag("x", false).is_err());
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(unescape("\\t"), "\t");
        assert_eq!(unescape("a\\nb\\\\"), "a\nb\\");
        assert_eq!(unescape("::"), "::");
        assert_eq!(unescape("\\x"), "\\x");
    }

    #[test]
    fn add_config_lists() {
        assert_eq!(
            config_list("retention.ms=1000,cleanup.policy=[compact,delete], x = y").unwrap(),
            vec![
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact,delete".into()),
                ("x".into(), "y".into()),
            ]
        );
        assert!(config_list("oops").is_err());
    }

    #[test]
    fn broker_list_is_an_alias() {
        assert_eq!(bootstrap(None, Some("h:1")).unwrap(), "h:1");
        assert_eq!(bootstrap(Some("a:1"), Some("h:1")).unwrap(), "a:1");
        assert!(bootstrap(None, None).is_err());
    }
}
