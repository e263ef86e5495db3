//! Canonical JSON for hashed event bodies.
//!
//! Object keys sorted by their UTF-16 code units as RFC 8785 (JCS) requires, no insignificant
//! whitespace, strings escaped by serde_json. Event bodies contain only strings, integers, booleans,
//! nulls, arrays and objects, so JCS's number rules reduce to integer formatting. We sort explicitly
//! instead of relying on serde_json's map order, which a `preserve_order` feature enabled anywhere
//! in the dependency graph would silently change.
use serde_json::Value;

pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_value(val, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_recursively_without_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{"b": [ {"z":1,"a":null} ], "a": "é\n", "aa": true}"#).unwrap();
        assert_eq!(
            to_canonical_string(&v),
            r#"{"a":"é\n","aa":true,"b":[{"a":null,"z":1}]}"#
        );
    }
}
