//! Idempotency keys for deliveries that carry no natural one.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A digest of a payload's content, independent of key order and of whether scalars came as
/// form strings or typed JSON (`"1"` and `1` are the same field), leaving out `ignore`d
/// top-level keys (a retry counter, a secret). Stable across a storefront's retries.
pub fn fingerprint(payload: &Map<String, Value>, ignore: &[&str]) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&Value::from(k.as_str()).to_string());
                    out.push(':');
                    if let Some(child) = m.get(k) {
                        write(child, out);
                    }
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for item in items {
                    write(item, out);
                    out.push(',');
                }
                out.push(']');
            }
            Value::String(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            other => out.push_str(&Value::from(other.to_string()).to_string()),
        }
    }
    let mut kept = payload.clone();
    for key in ignore {
        kept.remove(*key);
    }
    let mut canonical = String::new();
    write(&Value::Object(kept), &mut canonical);
    hex::encode(&Sha256::digest(canonical.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn order_types_and_ignored_keys_do_not_matter() {
        let a = map(json!({"b": 1, "a": {"y": "2", "x": [1, "z"]}, "retry_count": "1"}));
        let b = map(json!({"a": {"x": ["1", "z"], "y": 2}, "b": "1", "retry_count": "3"}));
        assert_eq!(
            fingerprint(&a, &["retry_count"]),
            fingerprint(&b, &["retry_count"])
        );
        assert_ne!(fingerprint(&a, &[]), fingerprint(&b, &[]));
        let c = map(json!({"b": 2, "a": {"y": "2", "x": [1, "z"]}}));
        assert_ne!(fingerprint(&a, &["retry_count"]), fingerprint(&c, &[]));
    }
}
