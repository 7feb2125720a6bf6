//! Answers checked against PortOne's official V1 spec (vendored beside the client crate).

use serde_json::Value;

pub fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/portone/spec/v1.openapi.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the spec is JSON")
}

/// The required fields of a spec definition are present and not null, and each field the
/// definition types as integer/number/string/boolean/array has that JSON type.
pub fn check(spec: &Value, definition: &str, value: &Value) {
    let def = &spec["definitions"][definition];
    assert!(def.is_object(), "{definition} not in the spec");
    for field in def["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap();
        assert!(
            value.get(field).is_some_and(|v| !v.is_null()),
            "{definition}.{field} missing in {value}"
        );
    }
    for (name, prop) in def["properties"].as_object().into_iter().flatten() {
        let Some(v) = value.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let ok = match prop["type"].as_str() {
            Some("integer") => v.is_i64(),
            Some("number") => v.is_number(),
            Some("string") => v.is_string(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            _ => true,
        };
        assert!(ok, "{definition}.{name} is {v}, spec says {}", prop["type"]);
    }
}

/// A PortOne answer: `{code, message, response}` (`ResponseAnnotation`).
pub fn envelope(spec: &Value, body: &Value) {
    check(spec, "ResponseAnnotation", body);
}
