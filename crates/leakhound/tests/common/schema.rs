//! A small JSON Schema validator for the subset docs/schema/ uses (`type`,
//! `required`, `properties`, `additionalProperties`, `items`, `minItems`,
//! `enum`, `const`, `minimum`, `maximum`, `anyOf`, `$ref` to `#/$defs/…` or to another
//! file of docs/schema/). Small enough to read, so a test that fails says
//! exactly which field of a real output broke its contract.

use serde_json::Value;
use std::path::Path;

/// Every violation of `schema_file` (a name under docs/schema/) by `doc`,
/// each as `json/pointer: what is wrong`.
pub fn violations(schema_file: &str, doc: &Value) -> Vec<String> {
    let schema = load(schema_file);
    let mut out = Vec::new();
    check(&schema, &schema, doc, "", &mut out);
    out
}

/// Panics, listing every violation, unless `doc` follows `schema_file`.
pub fn assert_valid(schema_file: &str, doc: &Value) {
    let v = violations(schema_file, doc);
    assert!(v.is_empty(), "{schema_file}:\n  {}", v.join("\n  "));
}

fn load(file: &str) -> Value {
    let path = testkit::repo_root().join("docs/schema").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        other => panic!("the validator does not know type {other:?}"),
    }
}

fn check(root: &Value, s: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    const KNOWN: &[&str] = &[
        "$schema",
        "$id",
        "title",
        "description",
        "$defs",
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "enum",
        "const",
        "minimum",
        "maximum",
        "$ref",
        "anyOf",
    ];
    let s = s.as_object().expect("a schema is an object");
    if let Some(k) = s.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        panic!("the validator does not know keyword {k:?}; extend it rather than ignore it");
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let (file, pointer) = r.split_once('#').unwrap_or((r, ""));
        let other;
        let base = if file.is_empty() {
            root
        } else {
            other = load(file);
            &other
        };
        let target = base
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {r} points nowhere"));
        check(base, target, v, at, out);
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let fits = |b: &Value| {
            let mut v2 = Vec::new();
            check(root, b, v, at, &mut v2);
            v2.is_empty()
        };
        if !any.iter().any(fits) {
            out.push(format!("{at}: {v} fits none of anyOf"));
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            _ => panic!("bad type in schema"),
        };
        if !ok {
            out.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            out.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            out.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            out.push(format!("{at}: {x} is below {min}"));
        }
    }
    if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if x > max {
            out.push(format!("{at}: {x} is above {max}"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                out.push(format!("{at}: missing required field {r:?}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            let at = format!("{at}/{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => check(root, p, x, &at, out),
                (None, Some(Value::Bool(false))) => out.push(format!("{at}: not in the schema")),
                (None, Some(a @ Value::Object(_))) => check(root, a, x, &at, out),
                (None, _) => {}
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
            if (a.len() as u64) < min {
                out.push(format!("{at}: fewer than {min} items"));
            }
        }
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                check(root, items, x, &format!("{at}/{i}"), out);
            }
        }
    }
}
