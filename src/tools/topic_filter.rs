//! Kafka's topic patterns as its tools read them (`IncludeList`): a `--topic`
//! or `--include` value is a Java regex that must match the whole name, with
//! `,` meaning `|` and surrounding quotes dropped, so `'orders.*'` and
//! `a,b` work as they do with Kafka's scripts. Also which topics are internal.

use regex::Regex;

/// Topics Kafka treats as internal (its `Topic.isInternal`): hidden by
/// `--exclude-internal`.
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

pub fn is_internal(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// A compiled `--topic`/`--include` pattern.
#[derive(Debug, Clone)]
pub struct IncludeList {
    regex: Regex,
}

impl IncludeList {
    pub fn new(pattern: &str) -> Result<IncludeList, String> {
        let p = pattern
            .trim()
            .replace(',', "|")
            .trim_start_matches(['"', '\''])
            .trim_end_matches(['"', '\''])
            .to_string();
        let regex = Regex::new(&format!("^(?:{p})$"))
            .map_err(|e| format!("invalid topic regex {pattern:?}: {e}"))?;
        Ok(IncludeList { regex })
    }

    /// Whether `topic` matches, internal topics excluded when `exclude_internal`.
    pub fn allows(&self, topic: &str, exclude_internal: bool) -> bool {
        self.regex.is_match(topic) && !(exclude_internal && is_internal(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_name_regexes_commas_and_quotes() {
        let l = IncludeList::new("'orders.*'").unwrap();
        assert!(l.allows("orders", false) && l.allows("orders-eu", false));
        assert!(!l.allows("old-orders", false));
        let l = IncludeList::new("a,b").unwrap();
        assert!(l.allows("a", false) && l.allows("b", false) && !l.allows("ab", false));
        let l = IncludeList::new("__.*").unwrap();
        assert!(l.allows("__consumer_offsets", false));
        assert!(!l.allows("__consumer_offsets", true));
        assert!(IncludeList::new("(").is_err());
    }
}
