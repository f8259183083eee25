//! Shift4Shop webhook bodies: JSON or XML (per webhook setting), the resource as a bare object,
//! an array of objects (as the REST API returns everything), or wrapped in a container element.
//! Both formats become the same JSON tree so one normaliser reads them.

use relay_ingest::ParseError;
use serde_json::{Map, Value};

/// Deepest element nesting accepted in an XML body (the REST objects nest three levels).
const MAX_XML_DEPTH: usize = 32;
/// Most XML nodes accepted (the body size limit applies first; this bounds the tree).
const MAX_XML_NODES: u32 = 200_000;
/// How deep wrappers (`<Orders><Order>`, `[{...}]`) are searched for the resource.
const MAX_WRAPPER_DEPTH: usize = 4;

/// The body format, decided by its first significant byte (a JSON document never starts with
/// `<`, an XML one never with `{`/`[`), with `Content-Type` as the tie-breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
}

/// Sniffs the format; `None` when neither the bytes nor the content type say.
pub(crate) fn format(body: &[u8], content_type: Option<&str>) -> Option<Format> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Some(Format::Xml),
        Some(b'{' | b'[') => Some(Format::Json),
        _ => {
            let ct = content_type?.to_ascii_lowercase();
            if ct.contains("json") {
                Some(Format::Json)
            } else if ct.contains("xml") {
                Some(Format::Xml)
            } else {
                None
            }
        }
    }
}

/// Parses the body into a JSON tree.
pub(crate) fn parse(body: &[u8], content_type: Option<&str>) -> Result<Value, ParseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match format(body, content_type) {
        Some(Format::Json) => {
            serde_json::from_slice(body).map_err(|e| ParseError::Json(e.to_string()))
        }
        Some(Format::Xml) => xml(body),
        None => Err(ParseError::Invalid {
            field: "body",
            reason: "neither JSON nor XML".into(),
        }),
    }
}

fn xml(body: &[u8]) -> Result<Value, ParseError> {
    let invalid = |reason: String| ParseError::Invalid {
        field: "body",
        reason,
    };
    let text = std::str::from_utf8(body).map_err(|e| invalid(format!("XML is not UTF-8: {e}")))?;
    let options = roxmltree::ParsingOptions {
        // No DTDs: no entity expansion games.
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| invalid(format!("XML: {e}")))?;
    let root = doc.root_element();
    let mut map = Map::new();
    map.insert(root.tag_name().name().to_owned(), element(root, 0)?);
    Ok(Value::Object(map))
}

/// An element as JSON: text-only elements become strings (`xsi:nil` ones null), elements with
/// children objects keyed by local name, repeated children arrays. Attributes are ignored: the
/// REST objects carry their data in elements.
fn element(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, ParseError> {
    if depth > MAX_XML_DEPTH {
        return Err(ParseError::Invalid {
            field: "body",
            reason: format!("XML nested deeper than {MAX_XML_DEPTH} levels"),
        });
    }
    if node
        .attributes()
        .any(|a| a.name() == "nil" && a.value() == "true")
    {
        return Ok(Value::Null);
    }
    let mut children = node
        .children()
        .filter(roxmltree::Node::is_element)
        .peekable();
    if children.peek().is_none() {
        let text: String = node.children().filter_map(|c| c.text()).collect();
        return Ok(Value::String(text));
    }
    let mut map = Map::new();
    for child in children {
        let value = element(child, depth + 1)?;
        let name = child.tag_name().name();
        match map.get_mut(name) {
            // `element` never returns an array, so an array here came from repetition.
            Some(Value::Array(items)) => items.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                map.insert(name.to_owned(), value);
            }
        }
    }
    Ok(Value::Object(map))
}

/// The resource objects in a parsed body: objects holding one of `markers` (`OrderID`,
/// `CustomerID`, ...), found in a bare object, an array, or through single-key wrappers.
pub(crate) fn records<'a>(value: &'a Value, markers: &[&str]) -> Vec<&'a Map<String, Value>> {
    let mut out = Vec::new();
    collect(value, markers, 0, &mut out);
    out
}

fn collect<'a>(
    value: &'a Value,
    markers: &[&str],
    depth: usize,
    out: &mut Vec<&'a Map<String, Value>>,
) {
    if depth > MAX_WRAPPER_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items {
                collect(item, markers, depth + 1, out);
            }
        }
        Value::Object(map) => {
            if markers.iter().any(|m| get(map, m).is_some()) {
                out.push(map);
            } else if map.len() == 1 {
                // `{"Order": {...}}`, `<Orders><Order>...`, `<ArrayOfOrder><Order>...`
                for inner in map.values() {
                    collect(inner, markers, depth + 1, out);
                }
            }
        }
        _ => {}
    }
}

/// A field by name: exact first, then ignoring ASCII case (`orderid`, `OrderId`).
pub(crate) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A scalar field as text, trimmed; empty, `null` and non-scalars are absent.
pub(crate) fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match get(map, key)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && !s.eq_ignore_ascii_case("null")).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first present of `keys`.
pub(crate) fn first_text(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(map, k))
}

/// A list field (`OrderItemList`, `ShipmentList`): a JSON array, a single object, or the XML
/// form `<OrderItemList><OrderItem>...</OrderItem>...</OrderItemList>`.
pub(crate) fn list<'a>(map: &'a Map<String, Value>, key: &str) -> Vec<&'a Map<String, Value>> {
    fn items<'a>(v: &'a Value, depth: usize, out: &mut Vec<&'a Map<String, Value>>) {
        match v {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_object)
                .for_each(|m| out.push(m)),
            Value::Object(m) => match m.values().next() {
                Some(inner @ (Value::Array(_) | Value::Object(_))) if m.len() == 1 && depth < 2 => {
                    items(inner, depth + 1, out)
                }
                _ => out.push(m),
            },
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = get(map, key) {
        items(v, 0, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sniffs_before_trusting_the_content_type() {
        assert_eq!(format(b"  {\"a\":1}", Some("text/xml")), Some(Format::Json));
        assert_eq!(
            format(b"\xEF\xBB\xBF<Order/>", Some("application/json")),
            Some(Format::Xml)
        );
        assert_eq!(format(b"[1]", None), Some(Format::Json));
        assert_eq!(format(b"", Some("application/json")), Some(Format::Json));
        assert_eq!(
            format(b"a=b", Some("application/x-www-form-urlencoded")),
            None
        );
        assert_eq!(format(b"", None), None);
    }

    #[test]
    fn xml_becomes_the_same_tree_as_json() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
            <ArrayOfOrder xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
              <Order>
                <OrderID>7</OrderID>
                <BillingCompany i:nil="true"/>
                <BillingAddress2/>
                <CustomerComments><![CDATA[Leave at <door>]]></CustomerComments>
                <OrderItemList>
                  <OrderItem><CatalogID>1</CatalogID></OrderItem>
                  <OrderItem><CatalogID>2</CatalogID></OrderItem>
                </OrderItemList>
                <ShipmentList><Shipment><ShipmentID>9</ShipmentID></Shipment></ShipmentList>
              </Order>
            </ArrayOfOrder>"#;
        let v = parse(xml, Some("application/xml")).unwrap();
        assert_eq!(
            v,
            json!({"ArrayOfOrder": {"Order": {
                "OrderID": "7",
                "BillingCompany": null,
                "BillingAddress2": "",
                "CustomerComments": "Leave at <door>",
                "OrderItemList": {"OrderItem": [{"CatalogID": "1"}, {"CatalogID": "2"}]},
                "ShipmentList": {"Shipment": {"ShipmentID": "9"}}
            }}})
        );
        let orders = records(&v, &["OrderID"]);
        assert_eq!(orders.len(), 1);
        assert_eq!(list(orders[0], "OrderItemList").len(), 2);
        assert_eq!(list(orders[0], "ShipmentList").len(), 1);
        assert_eq!(text(orders[0], "BillingCompany"), None);
        assert_eq!(text(orders[0], "orderid").as_deref(), Some("7"));
    }

    #[test]
    fn records_in_every_shape() {
        for v in [
            json!({"OrderID": 1}),
            json!([{"OrderID": 1}]),
            json!({"Order": {"OrderID": 1}}),
            json!({"Orders": {"Order": [{"OrderID": 1}]}}),
        ] {
            assert_eq!(records(&v, &["OrderID"]).len(), 1, "{v}");
        }
        assert_eq!(
            records(&json!([{"OrderID": 1}, {"OrderID": 2}]), &["OrderID"]).len(),
            2
        );
        assert!(records(&json!({"a": 1, "b": 2}), &["OrderID"]).is_empty());
        assert!(records(&json!("x"), &["OrderID"]).is_empty());
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": {"OrderID": 1}}}}}}});
        assert!(
            records(&deep, &["OrderID"]).is_empty(),
            "wrappers are searched a few levels only"
        );
    }

    #[test]
    fn hostile_xml_is_refused() {
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Order>&lol2;</Order>"#;
        assert!(parse(bomb, None).is_err());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(deep.as_bytes(), None).is_err());
        assert!(parse(b"<Order><OrderID>1</Order>", None).is_err());
        assert!(parse(b"<Order>\xff</Order>", None).is_err());
    }
}
