//! How `kafka-console-consumer.sh` prints a record: Kafka's formatter classes
//! (`--formatter`: DefaultMessageFormatter, LoggingMessageFormatter,
//! NoOpMessageFormatter) with DefaultMessageFormatter's properties, and the
//! common deserializer classes (`--key-deserializer`, `--value-deserializer`,
//! `key.deserializer=` ...) applied as the Java classes read the bytes, so
//! `LongDeserializer` prints numbers rather than 8 raw bytes.

use super::args::Props;
use super::fetched::ConsumedRecord;
use crate::record::TimestampType;

/// Formatter classes, by simple name: which Kafka prints and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// DefaultMessageFormatter: the configured columns on stdout.
    Default,
    /// LoggingMessageFormatter: the default output, plus an INFO log line (stderr).
    Logging,
    /// NoOpMessageFormatter: nothing.
    NoOp,
}

/// The simple class name of `class` (`org.apache.kafka.tools.consumer.X`, `kafka.tools.X`, `X`).
fn simple(class: &str) -> &str {
    class.trim().rsplit('.').next().unwrap_or_default()
}

pub fn parse_style(class: &str) -> Result<Style, String> {
    match simple(class) {
        "DefaultMessageFormatter" => Ok(Style::Default),
        "LoggingMessageFormatter" => Ok(Style::Logging),
        "NoOpMessageFormatter" => Ok(Style::NoOp),
        other => Err(format!(
            "formatter {class} is not available in gregor (Java class {other}); use DefaultMessageFormatter, LoggingMessageFormatter or NoOpMessageFormatter"
        )),
    }
}

/// The deserializer classes of org.apache.kafka.common.serialization gregor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deserializer {
    /// String, ByteArray, Bytes, ByteBuffer: the bytes as they are.
    Raw,
    Long,
    Integer,
    Short,
    Double,
    Float,
    Boolean,
    Uuid,
    Void,
}

pub fn parse_deserializer(class: &str) -> Result<Deserializer, String> {
    use Deserializer::*;
    Ok(match simple(class) {
        "StringDeserializer" | "ByteArrayDeserializer" | "BytesDeserializer"
        | "ByteBufferDeserializer" => Raw,
        "LongDeserializer" => Long,
        "IntegerDeserializer" => Integer,
        "ShortDeserializer" => Short,
        "DoubleDeserializer" => Double,
        "FloatDeserializer" => Float,
        "BooleanDeserializer" => Boolean,
        "UUIDDeserializer" => Uuid,
        "VoidDeserializer" => Void,
        _ => {
            return Err(format!(
                "deserializer {class} is not available in gregor (String, ByteArray, Bytes, ByteBuffer, Long, Integer, Short, Double, Float, Boolean, UUID and Void deserializers are)"
            ))
        }
    })
}

/// Java's `Double.toString` for ordinary values: whole numbers keep a `.0`.
fn java_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        v.to_string()
    }
}

impl Deserializer {
    /// The printed form of `data`, or the SerializationException Kafka throws.
    pub fn apply(self, data: &[u8]) -> Result<Vec<u8>, String> {
        let fixed = |n: usize, name: &str| -> Result<(), String> {
            if data.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "org.apache.kafka.common.errors.SerializationException: Size of data received by {name} is not {n}"
                ))
            }
        };
        let text = match self {
            Deserializer::Raw => return Ok(data.to_vec()),
            Deserializer::Uuid => {
                let s = String::from_utf8_lossy(data);
                uuid::Uuid::parse_str(&s).map_err(|e| {
                    format!("org.apache.kafka.common.errors.SerializationException: Error parsing data into UUID: {e}")
                })?;
                s.into_owned()
            }
            Deserializer::Long => {
                fixed(8, "LongDeserializer")?;
                i64::from_be_bytes(data.try_into().unwrap_or_default()).to_string()
            }
            Deserializer::Integer => {
                fixed(4, "IntegerDeserializer")?;
                i32::from_be_bytes(data.try_into().unwrap_or_default()).to_string()
            }
            Deserializer::Short => {
                fixed(2, "ShortDeserializer")?;
                i16::from_be_bytes(data.try_into().unwrap_or_default()).to_string()
            }
            Deserializer::Double => {
                fixed(8, "DoubleDeserializer")?;
                java_float(f64::from_be_bytes(data.try_into().unwrap_or_default()))
            }
            Deserializer::Float => {
                fixed(4, "FloatDeserializer")?;
                java_float(f64::from(f32::from_be_bytes(data.try_into().unwrap_or_default())))
            }
            Deserializer::Boolean => {
                fixed(1, "BooleanDeserializer")?;
                (data[0] != 0).to_string()
            }
            Deserializer::Void => {
                return Err("org.apache.kafka.common.errors.SerializationException: Data should be null for a VoidDeserializer".into())
            }
        };
        Ok(text.into_bytes())
    }
}

/// A formatter class with DefaultMessageFormatter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    pub style: Style,
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: String,
    pub line_separator: String,
    pub headers_separator: String,
    pub null_literal: String,
    pub key_deserializer: Deserializer,
    pub value_deserializer: Deserializer,
    pub header_deserializer: Deserializer,
}

impl Formatter {
    pub fn from_props(p: &Props) -> Result<Formatter, String> {
        Self::with_style(Style::Default, p)
    }

    pub fn with_style(style: Style, p: &Props) -> Result<Formatter, String> {
        let de = |key: &str| p.get(key).map_or(Ok(Deserializer::Raw), parse_deserializer);
        Ok(Formatter {
            style,
            print_timestamp: p.flag("print.timestamp", false)?,
            print_partition: p.flag("print.partition", false)?,
            print_offset: p.flag("print.offset", false)?,
            print_headers: p.flag("print.headers", false)?,
            print_key: p.flag("print.key", false)?,
            print_value: p.flag("print.value", true)?,
            key_separator: p.text("key.separator", "\t"),
            line_separator: p.text("line.separator", "\n"),
            headers_separator: p.text("headers.separator", ","),
            null_literal: p.text("null.literal", "null"),
            key_deserializer: de("key.deserializer")?,
            value_deserializer: de("value.deserializer")?,
            header_deserializer: de("header.deserializer")?,
        })
    }

    fn column(&self, b: &Option<Vec<u8>>, d: Deserializer) -> Result<Vec<u8>, String> {
        match b {
            None => Ok(self.null_literal.as_bytes().to_vec()),
            Some(bytes) => d.apply(bytes),
        }
    }

    /// One record as the formatter writes it (stdout), or the error a
    /// deserializer raised. DefaultMessageFormatter's columns come in the order
    /// timestamp, partition, offset, headers, key, value, separated by the key
    /// separator and ended by the line separator.
    pub fn format(&self, r: &ConsumedRecord) -> Result<Vec<u8>, String> {
        if self.style == Style::NoOp {
            return Ok(Vec::new());
        }
        let mut cols: Vec<Vec<u8>> = Vec::new();
        if self.print_timestamp {
            cols.push(format!("{}:{}", kind(r.timestamp_type), r.timestamp).into_bytes());
        }
        if self.print_partition {
            cols.push(format!("Partition:{}", r.partition).into_bytes());
        }
        if self.print_offset {
            cols.push(format!("Offset:{}", r.offset).into_bytes());
        }
        if self.print_headers {
            if r.headers.is_empty() {
                cols.push(b"NO_HEADERS".to_vec());
            } else {
                let mut h = Vec::new();
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    if i > 0 {
                        h.extend_from_slice(self.headers_separator.as_bytes());
                    }
                    h.extend_from_slice(k);
                    h.push(b':');
                    h.extend(self.column(v, self.header_deserializer)?);
                }
                cols.push(h);
            }
        }
        if self.print_key {
            cols.push(self.column(&r.key, self.key_deserializer)?);
        }
        if self.print_value {
            cols.push(self.column(&r.value, self.value_deserializer)?);
        }
        let mut out = cols.join(self.key_separator.as_bytes());
        if !cols.is_empty() {
            out.extend_from_slice(self.line_separator.as_bytes());
        }
        if self.style == Style::Logging {
            eprintln!("[INFO] {}", log_line(r));
        }
        Ok(out)
    }
}

fn kind(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// LoggingMessageFormatter's log line: `CreateTime:ts, key:k, value:v`.
pub fn log_line(r: &ConsumedRecord) -> String {
    let key = r.key.as_ref().map_or_else(
        || "null ".to_string(),
        |k| format!("{}, ", String::from_utf8_lossy(k)),
    );
    let value = r.value.as_ref().map_or_else(
        || "null".to_string(),
        |v| String::from_utf8_lossy(v).into_owned(),
    );
    format!(
        "{}:{}, key:{key}value:{value}",
        kind(r.timestamp_type),
        r.timestamp
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            partition: 2,
            offset: 41,
            timestamp: 1700000000123,
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k1".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: vec![(b"h".to_vec(), Some(b"x".to_vec())), (b"n".to_vec(), None)],
        }
    }

    fn fmt(props: &[&str]) -> Formatter {
        let items: Vec<String> = props.iter().map(|s| s.to_string()).collect();
        Formatter::from_props(&Props::parse(&items, "--property").unwrap()).unwrap()
    }

    fn show(f: &Formatter, r: &ConsumedRecord) -> String {
        String::from_utf8(f.format(r).unwrap()).unwrap()
    }

    #[test]
    fn default_prints_the_value() {
        assert_eq!(show(&fmt(&[]), &record()), "v1\n");
    }

    #[test]
    fn all_columns_in_kafka_order() {
        let f = fmt(&[
            "print.key=true",
            "print.timestamp=true",
            "print.partition=true",
            "print.offset=true",
            "print.headers=true",
        ]);
        assert_eq!(
            show(&f, &record()),
            "CreateTime:1700000000123\tPartition:2\tOffset:41\th:x,n:null\tk1\tv1\n"
        );
    }

    #[test]
    fn key_separator_nulls_and_no_value() {
        let mut r = record();
        r.key = None;
        r.headers.clear();
        r.timestamp_type = TimestampType::LogAppendTime;
        assert_eq!(
            show(&fmt(&["print.key=true", "key.separator=:"]), &r),
            "null:v1\n"
        );
        assert_eq!(
            show(&fmt(&["print.key=true", "print.value=false"]), &r),
            "null\n"
        );
        assert_eq!(show(&fmt(&["print.headers=true"]), &r), "NO_HEADERS\tv1\n");
        assert_eq!(
            show(&fmt(&["print.timestamp=true", "print.value=false"]), &r),
            "LogAppendTime:1700000000123\n"
        );
        assert_eq!(show(&fmt(&["print.value=false"]), &r), "");
    }

    #[test]
    fn deserializers_read_java_encodings() {
        let mut r = record();
        r.key = Some(7i64.to_be_bytes().to_vec());
        r.value = Some((-3i32).to_be_bytes().to_vec());
        let f = fmt(&[
            "print.key=true",
            "key.deserializer=org.apache.kafka.common.serialization.LongDeserializer",
            "value.deserializer=IntegerDeserializer",
        ]);
        assert_eq!(show(&f, &r), "7\t-3\n");
        r.value = Some(b"abc".to_vec());
        assert!(f
            .format(&r)
            .unwrap_err()
            .contains("Size of data received by IntegerDeserializer is not 4"));
        assert_eq!(
            Deserializer::Double.apply(&2f64.to_be_bytes()).unwrap(),
            b"2.0"
        );
        assert!(parse_deserializer("com.example.AvroDeserializer").is_err());
    }

    #[test]
    fn formatter_classes() {
        assert_eq!(
            parse_style("kafka.tools.DefaultMessageFormatter"),
            Ok(Style::Default)
        );
        assert_eq!(
            parse_style("org.apache.kafka.tools.consumer.NoOpMessageFormatter"),
            Ok(Style::NoOp)
        );
        assert!(
            parse_style("org.apache.kafka.tools.consumer.group.OffsetsMessageFormatter").is_err()
        );
        let f = Formatter::with_style(Style::NoOp, &Props::default()).unwrap();
        assert_eq!(show(&f, &record()), "");
        assert_eq!(
            log_line(&record()),
            "CreateTime:1700000000123, key:k1, value:v1"
        );
    }
}
