//! `application/x-www-form-urlencoded` bodies: flat pairs (Digistore24 signs the decoded pairs),
//! and PHP/Rails-style nested keys (`customer[email]`, `order[charges][0][amount]`,
//! `purchase_ids[]`) turned into a JSON tree (ThriveCart, Gumroad).
//!
//! Decoding happens exactly once (`+` → space, `%XX`), so percent-encoded brackets
//! (`card%5Bvisual%5D`, as Gumroad's HTTParty sends them) nest like literal ones. Values stay
//! strings: storefronts send everything as text (`"true"`, `"4900"`, literal `"null"`), and the
//! storefront's normaliser decides what each field means.

use serde_json::{Map, Value};

use crate::error::ParseError;

/// Most nesting levels accepted; deeper keys are refused (a crafted body must not recurse).
const MAX_DEPTH: usize = 16;
/// Largest array index accepted (`a[100000]` must not allocate a huge array).
const MAX_INDEX: usize = 1000;

/// The decoded `(key, value)` pairs in body order.
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Splits `a[b][0][]` into `["a", "b", "0", ""]`. Malformed brackets keep the key literal.
fn path(key: &str) -> Vec<&str> {
    let Some(open) = key.find('[') else {
        return vec![key];
    };
    if open == 0 || !key.ends_with(']') {
        return vec![key];
    }
    let mut parts = vec![&key[..open]];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            return vec![key];
        };
        parts.push(&stripped[..close]);
        rest = &stripped[close + 1..];
    }
    if rest.is_empty() { parts } else { vec![key] }
}

/// Parses a form body into a JSON object, nesting bracketed keys. Numeric segments make
/// arrays when they are dense from 0 (`x[0]`, `x[1]`); other segments (`transactions[product-12]`)
/// make objects; `x[]` appends.
pub fn parse_nested(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    let mut root = Map::new();
    for (key, value) in pairs(body) {
        let segments = path(&key);
        if segments.len() > MAX_DEPTH {
            return Err(ParseError::Invalid {
                field: "form",
                reason: format!("key nested deeper than {MAX_DEPTH} levels"),
            });
        }
        insert(&mut root, &segments, Value::String(value))?;
    }
    for v in root.values_mut() {
        densify(v);
    }
    Ok(root)
}

/// Inserts into an object tree; numeric keys are kept as object keys here and turned into
/// arrays by `densify` once every pair is in (order of indices in the body does not matter).
fn insert(map: &mut Map<String, Value>, segments: &[&str], value: Value) -> Result<(), ParseError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    let key = if first.is_empty() {
        // `x[]`: append at the next free index.
        let next = (0..)
            .find(|i: &usize| !map.contains_key(&i.to_string()))
            .unwrap_or(0);
        if next > MAX_INDEX {
            return Err(ParseError::Invalid {
                field: "form",
                reason: format!("more than {MAX_INDEX} list items"),
            });
        }
        next.to_string()
    } else {
        if let Ok(i) = first.parse::<usize>()
            && i > MAX_INDEX
        {
            return Err(ParseError::Invalid {
                field: "form",
                reason: format!("list index {i} is too large"),
            });
        }
        (*first).to_owned()
    };
    if rest.is_empty() {
        map.insert(key, value);
        Ok(())
    } else {
        let child = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            // `a=1&a[b]=2`: the later, deeper key wins over the scalar.
            *child = Value::Object(Map::new());
        }
        match child {
            Value::Object(m) => insert(m, rest, value),
            _ => Ok(()),
        }
    }
}

/// Objects whose keys are exactly `0..n` become arrays, recursively.
fn densify(v: &mut Value) {
    if let Value::Object(map) = v {
        for child in map.values_mut() {
            densify(child);
        }
        let n = map.len();
        let dense = n > 0 && (0..n).all(|i| map.contains_key(&i.to_string()));
        if dense {
            let items = (0..n).filter_map(|i| map.remove(&i.to_string())).collect();
            *v = Value::Array(items);
        }
    }
}

/// Whether a body is JSON: declared so by its content type, or starting with `{` (storefronts
/// that let users pick JSON or form do not always say which they sent).
pub fn is_json(content_type: Option<&str>, body: &[u8]) -> bool {
    let declared = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().to_ascii_lowercase().ends_with("json"))
    });
    declared
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
}

/// A JSON object or a (nested) form body, as one JSON map.
pub fn parse_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ParseError> {
    if is_json(content_type, body) {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ParseError::Json("expected a JSON object".to_owned())),
            Err(e) => Err(ParseError::Json(e.to_string())),
        }
    } else {
        parse_nested(body)
    }
}

/// Reads a text field, treating empty strings and the literal `"null"` as absent.
pub fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match map.get(key)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && !s.eq_ignore_ascii_case("null")).then_some(s)
        }
        _ => None,
    }
}

/// Reads a `"true"`/`"1"`/`true` flag.
pub fn flag(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
        }
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn nests_php_style_keys() {
        let body = b"event=order.success&customer%5Bemail%5D=a%40b.c&customer[name]=Ada+L&order[charges][1][amount]=200&order[charges][0][amount]=4900&transactions[product-12]=abc&purchase_ids[]=x&purchase_ids[]=y&coupon=null";
        let v = Value::Object(parse_nested(body).unwrap());
        assert_eq!(
            v,
            json!({
                "event": "order.success",
                "customer": {"email": "a@b.c", "name": "Ada L"},
                "order": {"charges": [{"amount": "4900"}, {"amount": "200"}]},
                "transactions": {"product-12": "abc"},
                "purchase_ids": ["x", "y"],
                "coupon": "null"
            })
        );
        let map = parse_nested(body).unwrap();
        assert_eq!(text(&map, "coupon"), None, "literal null is absent");
    }

    #[test]
    fn malformed_keys_stay_literal_and_limits_hold() {
        let map = parse_nested(b"a[b=1&c]d=2&[x]=3").unwrap();
        assert_eq!(map.get("a[b"), Some(&json!("1")));
        assert_eq!(map.get("c]d"), Some(&json!("2")));
        assert_eq!(map.get("[x]"), Some(&json!("3")));
        assert!(parse_nested(b"a[99999999]=1").is_err());
        let deep = format!("a{}=1", "[x]".repeat(40));
        assert!(parse_nested(deep.as_bytes()).is_err());
        // Sparse indices stay an object rather than a padded array.
        assert_eq!(
            Value::Object(parse_nested(b"a[0]=x&a[5]=y").unwrap()),
            json!({"a": {"0": "x", "5": "y"}})
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_nested(&body);
            let _ = pairs(&body);
        }

        #[test]
        fn arbitrary_nested_keys_never_panic(keys in proptest::collection::vec("[a-z0-9\\[\\]%]{0,24}", 0..20)) {
            let body = keys.iter().enumerate().map(|(i, k)| format!("{k}={i}")).collect::<Vec<_>>().join("&");
            let _ = parse_nested(body.as_bytes());
        }
    }
}
