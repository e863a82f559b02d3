//! Kafka's LineMessageReader, the console producer's stdin format: one record per
//! line, `[headers<delimiter>][key<separator>]value`, as set by its properties
//! (`parse.key`, `key.separator`, `parse.headers`, `headers.delimiter`,
//! `headers.separator`, `headers.key.separator`, `ignore.error`, `null.marker`).

use super::args::Props;

/// How stdin lines become records (LineMessageReader's properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    pub parse_key: bool,
    pub key_separator: String,
    pub parse_headers: bool,
    pub headers_delimiter: String,
    pub headers_separator: String,
    pub headers_key_separator: String,
    pub ignore_error: bool,
    pub null_marker: Option<String>,
}

impl LineFormat {
    pub fn from_props(p: &Props) -> Result<LineFormat, String> {
        let f = LineFormat {
            parse_key: p.flag("parse.key", false)?,
            key_separator: p.text("key.separator", "\t"),
            parse_headers: p.flag("parse.headers", false)?,
            headers_delimiter: p.text("headers.delimiter", "\t"),
            headers_separator: p.text("headers.separator", ","),
            headers_key_separator: p.text("headers.key.separator", ":"),
            ignore_error: p.flag("ignore.error", false)?,
            null_marker: p.get("null.marker").map(super::args::unescape),
        };
        for (name, v) in [
            ("key.separator", &f.key_separator),
            ("headers.delimiter", &f.headers_delimiter),
            ("headers.separator", &f.headers_separator),
            ("headers.key.separator", &f.headers_key_separator),
        ] {
            if v.is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        Ok(f)
    }
}

/// A record parsed from one line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// The part of `line` from `start` up to `sep`: None when the feature is off, or
/// when the separator is missing and errors are ignored.
fn demarcate<'a>(
    f: &LineFormat,
    enabled: bool,
    line: &'a str,
    start: usize,
    sep: &str,
    what: &str,
    line_no: u64,
) -> Result<Option<&'a str>, String> {
    if !enabled {
        return Ok(None);
    }
    match line[start..].find(sep) {
        Some(i) => Ok(Some(&line[start..start + i])),
        None if f.ignore_error => Ok(None),
        None => Err(format!(
            "No {what} found on line number {line_no}: '{line}'"
        )),
    }
}

/// Parses one line as Kafka's LineMessageReader: `[headers<delim>][key<sep>]value`.
pub fn parse_line(f: &LineFormat, line: &str, line_no: u64) -> Result<LineRecord, String> {
    let nullable = |s: &str| -> Option<Vec<u8>> {
        match &f.null_marker {
            Some(m) if m == s => None,
            _ => Some(s.as_bytes().to_vec()),
        }
    };
    let mut pos = 0;
    let mut rec = LineRecord::default();
    let headers = demarcate(
        f,
        f.parse_headers,
        line,
        pos,
        &f.headers_delimiter,
        "headers delimiter",
        line_no,
    )?;
    if let Some(h) = headers {
        pos += h.len() + f.headers_delimiter.len();
        if f.null_marker.as_deref() != Some(h) {
            for pair in h
                .split(f.headers_separator.as_str())
                .filter(|p| !p.is_empty())
            {
                let (k, v) = match pair.find(f.headers_key_separator.as_str()) {
                    Some(i) => (
                        &pair[..i],
                        nullable(&pair[i + f.headers_key_separator.len()..]),
                    ),
                    None => (pair, None),
                };
                if f.null_marker.as_deref() == Some(k) {
                    return Err(format!("Header keys should not be equal to the null marker '{k}' as they can't be null"));
                }
                rec.headers.push((k.as_bytes().to_vec(), v));
            }
        }
    }
    let key = demarcate(
        f,
        f.parse_key,
        line,
        pos,
        &f.key_separator,
        "key separator",
        line_no,
    )?;
    if let Some(k) = key {
        pos += k.len() + f.key_separator.len();
        rec.key = nullable(k);
    }
    rec.value = nullable(&line[pos..]);
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(props: &[&str]) -> LineFormat {
        let items: Vec<String> = props.iter().map(|s| s.to_string()).collect();
        LineFormat::from_props(&Props::parse(&items, "--property").unwrap()).unwrap()
    }

    fn rec(key: Option<&str>, value: Option<&str>) -> LineRecord {
        LineRecord {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: vec![],
        }
    }

    #[test]
    fn plain_lines_are_values() {
        let f = fmt(&[]);
        assert_eq!(parse_line(&f, "a\tb", 1).unwrap(), rec(None, Some("a\tb")));
        assert_eq!(parse_line(&f, "", 1).unwrap(), rec(None, Some("")));
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        let f = fmt(&["parse.key=true"]);
        assert_eq!(
            parse_line(&f, "k\tv\tw", 1).unwrap(),
            rec(Some("k"), Some("v\tw"))
        );
        let f = fmt(&["parse.key=true", "key.separator=::"]);
        assert_eq!(
            parse_line(&f, "user-1::{\"a\":1}", 1).unwrap(),
            rec(Some("user-1"), Some("{\"a\":1}"))
        );
        assert_eq!(parse_line(&f, "::v", 1).unwrap(), rec(Some(""), Some("v")));
        let err = parse_line(&f, "no separator", 7).unwrap_err();
        assert_eq!(
            err,
            "No key separator found on line number 7: 'no separator'"
        );
        let f = fmt(&["parse.key=true", "key.separator=:", "ignore.error=true"]);
        assert_eq!(
            parse_line(&f, "whole", 1).unwrap(),
            rec(None, Some("whole"))
        );
    }

    #[test]
    fn null_marker_and_headers() {
        let f = fmt(&["parse.key=true", "key.separator=,", "null.marker=NULL"]);
        assert_eq!(parse_line(&f, "NULL,x", 1).unwrap(), rec(None, Some("x")));
        assert_eq!(parse_line(&f, "k,NULL", 1).unwrap(), rec(Some("k"), None));
        let f = fmt(&["parse.key=true", "parse.headers=true", "null.marker=N"]);
        let r = parse_line(&f, "h1:v1,h2:N,h3\tk\tv", 1).unwrap();
        assert_eq!(
            r.headers,
            vec![
                (b"h1".to_vec(), Some(b"v1".to_vec())),
                (b"h2".to_vec(), None),
                (b"h3".to_vec(), None)
            ]
        );
        assert_eq!((r.key, r.value), (Some(b"k".to_vec()), Some(b"v".to_vec())));
    }
}
