//! PATCH in the three forms clients send: JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902) and strategic merge patch (kubectl's default),
//! whose lists of objects with a `name` merge by that name (containers,
//! ephemeral containers, env, ports) instead of being replaced.

use std::sync::Arc;

use serde_json::Value;

use super::api::App;
use super::store::{ApiError, Resource, PODS};
use super::workloads;

/// Strategic merge of `patch` into `target`. Directives (`$patch`,
/// `$setElementOrder/...`, `$retainKeys`) are honoured for `$patch: delete`
/// and otherwise skipped.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) else {
        *target = patch.clone();
        return;
    };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items)
                if items
                    .iter()
                    .all(|i| i.get("name").is_some_and(Value::is_string))
                    && !items.is_empty() =>
            {
                let list = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !list.is_array() {
                    *list = Value::Array(Vec::new());
                }
                let list = list.as_array_mut().expect("an array");
                for item in items {
                    let name = &item["name"];
                    let pos = list.iter().position(|x| &x["name"] == name);
                    match (pos, item.get("$patch").and_then(Value::as_str)) {
                        (Some(i), Some("delete")) => {
                            list.remove(i);
                        }
                        (None, Some("delete")) => {}
                        (Some(i), _) => strategic_merge(&mut list[i], item),
                        (None, _) => {
                            let mut fresh = Value::Object(Default::default());
                            strategic_merge(&mut fresh, item);
                            list.push(fresh);
                        }
                    }
                }
            }
            Value::Object(_) => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Applies a PATCH body of content type `ct` to an object, or to the part a
/// subresource may change (`ephemeralcontainers`: only
/// `spec.ephemeralContainers`, which can be added to, never changed).
pub fn patch(
    app: &Arc<App>,
    res: &'static Resource,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    ct: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let ct = ct.split(';').next().unwrap_or("").trim().to_string();
    let mut added_ephemeral = false;
    let obj = app.store.update(res, ns, name, |obj| {
        let mut patched = obj.clone();
        match ct.as_str() {
            "application/merge-patch+json" | "application/apply-patch+yaml" => json_patch::merge(&mut patched, body),
            "application/strategic-merge-patch+json" => strategic_merge(&mut patched, body),
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(body.clone())
                    .map_err(|e| ApiError::bad_request(format!("not a JSON patch: {e}")))?;
                json_patch::patch(&mut patched, &ops)
                    .map_err(|e| ApiError::new(422, "Invalid", format!("the JSON patch does not apply: {e}")))?;
            }
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format: {other}"),
                ))
            }
        }
        match sub {
            Some("ephemeralcontainers") => {
                let old = obj["spec"]["ephemeralContainers"].as_array().cloned().unwrap_or_default();
                let new = patched["spec"]["ephemeralContainers"].as_array().cloned().unwrap_or_default();
                let kept = old.iter().all(|o| new.iter().any(|n| n == o));
                if !kept {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("Pod \"{name}\" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers may not be changed"),
                    ));
                }
                added_ephemeral = new.len() > old.len();
                obj["spec"]["ephemeralContainers"] = Value::Array(new);
            }
            Some("status") => obj["status"] = patched["status"].take(),
            _ => {
                if *res == PODS && patched["spec"]["containers"] != obj["spec"]["containers"] {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("Pod \"{name}\" is invalid: spec: Forbidden: pod updates may not change fields other than image, activeDeadlineSeconds, tolerations"),
                    ));
                }
                patched["status"] = obj["status"].clone();
                *obj = patched;
            }
        }
        Ok(())
    })?;
    if added_ephemeral {
        if let Ok(pod) = serde_json::from_value(obj.clone()) {
            app.kubelet.add_ephemeral(ns, name, &pod);
        }
    }
    if res.kind == "Deployment" {
        workloads::reconcile_deployment(app, ns, name)?;
    }
    app.store.get(res, ns, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_merge_by_name() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}], "ephemeralContainers": []}});
        strategic_merge(
            &mut pod,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "y"}], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}}),
        );
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "a", "image": "y"}])
        );
        assert_eq!(
            pod["spec"]["ephemeralContainers"][0]["name"],
            json!("debug")
        );
        strategic_merge(
            &mut pod,
            &json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(pod["spec"]["containers"], json!([]));
    }
}
