//! Test fixture encoding shared by the unit tests (`src/tests.rs`) and the integration tests
//! (`tests/it`): objects encoded as PHP's `http_build_query` does, as ThriveCart sends them.

use serde_json::Value;

/// PHP `urlencode` (RFC 1738): `+` for space, `%XX` for everything but `[A-Za-z0-9_.-]`.
pub(crate) fn php_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Flattens an object the way `http_build_query` does: `a[b][0][c]=v`.
pub(crate) fn php_pairs(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}[{k}]")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| php_pairs(&key(k), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| php_pairs(&key(&i.to_string()), v, out)),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// The fixture as a form body, brackets percent-encoded like `http_build_query`.
pub(crate) fn php_form(v: &Value) -> String {
    let mut pairs = Vec::new();
    php_pairs("", v, &mut pairs);
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", php_encode(k), php_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}
