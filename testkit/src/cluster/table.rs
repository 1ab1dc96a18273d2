//! Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks
//! for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). kubectl
//! prints the columns the server sends; without a Table it shows only NAME
//! and AGE. The columns and cells follow the API server's printers.

use serde_json::{json, Value};

use super::store::{Resource, DEPLOYMENTS, EVENTS, NODES, PODS, REPLICASETS};

/// (name, type, priority): priority 1 columns show with `-o wide` only.
type Col = (&'static str, &'static str, u8);

fn columns(res: &Resource) -> &'static [Col] {
    match res {
        r if *r == PODS => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        r if *r == EVENTS => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        r if *r == NODES => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
        ],
        r if *r == DEPLOYMENTS => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            ("Age", "string", 0),
        ],
        r if *r == REPLICASETS => &[
            ("Name", "string", 0),
            ("Desired", "string", 0),
            ("Current", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
        ],
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    }
}

/// kubectl's short durations: `45s`, `3m20s`, `15m`, `2h10m`, `3d`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 && h % 24 != 0 {
        format!("{d}d{}h", h % 24)
    } else {
        format!("{d}d")
    }
}

/// The age of a timestamp field, or `<unknown>`.
fn age(ts: &Value) -> String {
    ts.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| human_duration(jiff::Timestamp::now().as_second() - t.as_second()))
        .unwrap_or_else(|| "<unknown>".into())
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        o => o.to_string(),
    }
}

fn or_none(v: &Value) -> String {
    match s(v) {
        e if e.is_empty() => "<none>".into(),
        x => x,
    }
}

/// The STATUS column: a container's waiting or terminated reason wins over
/// the phase, as in `kubectl get pods` (CrashLoopBackOff, OOMKilled, ...).
fn pod_status(pod: &Value) -> String {
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating".into();
    }
    let mut reason = or_none(&pod["status"]["phase"]);
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let st = &c["state"];
        if let Some(r) = st["waiting"]["reason"].as_str() {
            reason = r.into();
        } else if let Some(r) = st["terminated"]["reason"].as_str() {
            reason = r.into();
        } else if !st["terminated"].is_null() {
            reason = format!("ExitCode:{}", s(&st["terminated"]["exitCode"]));
        }
    }
    reason
}

fn pod_cells(pod: &Value) -> Vec<Value> {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"] == json!(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let last = statuses
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .max();
    let restarts = match last {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", age(&json!(t))),
        _ => restarts.to_string(),
    };
    vec![
        json!(s(&pod["metadata"]["name"])),
        json!(format!("{ready}/{total}")),
        json!(pod_status(pod)),
        json!(restarts),
        json!(age(&pod["metadata"]["creationTimestamp"])),
        json!(or_none(&pod["status"]["podIP"])),
        json!(or_none(&pod["spec"]["nodeName"])),
        json!("<none>"),
        json!("<none>"),
    ]
}

fn event_cells(ev: &Value) -> Vec<Value> {
    let o = &ev["involvedObject"];
    let last = if ev["lastTimestamp"].is_null() {
        &ev["eventTime"]
    } else {
        &ev["lastTimestamp"]
    };
    let source = match (s(&ev["source"]["component"]), s(&ev["source"]["host"])) {
        (c, h) if h.is_empty() => c,
        (c, h) => format!("{c}, {h}"),
    };
    vec![
        json!(age(last)),
        json!(s(&ev["type"])),
        json!(s(&ev["reason"])),
        json!(format!(
            "{}/{}",
            s(&o["kind"]).to_lowercase(),
            s(&o["name"])
        )),
        json!(s(&o["fieldPath"])),
        json!(source),
        json!(s(&ev["message"])),
        json!(age(&ev["firstTimestamp"])),
        json!(s(&ev["count"])),
        json!(s(&ev["metadata"]["name"])),
    ]
}

fn cells(res: &Resource, obj: &Value) -> Vec<Value> {
    let name = json!(s(&obj["metadata"]["name"]));
    let created = json!(age(&obj["metadata"]["creationTimestamp"]));
    let n = |v: &Value| json!(v.as_i64().unwrap_or(0).to_string());
    match res {
        r if *r == PODS => pod_cells(obj),
        r if *r == EVENTS => event_cells(obj),
        r if *r == NODES => vec![
            name,
            json!("Ready"),
            json!("<none>"),
            created,
            json!(s(&obj["status"]["nodeInfo"]["kubeletVersion"])),
        ],
        r if *r == DEPLOYMENTS => {
            let st = &obj["status"];
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    st["readyReplicas"].as_i64().unwrap_or(0),
                    obj["spec"]["replicas"].as_i64().unwrap_or(1)
                )),
                n(&st["updatedReplicas"]),
                n(&st["availableReplicas"]),
                created,
            ]
        }
        r if *r == REPLICASETS => vec![
            name,
            n(&obj["spec"]["replicas"]),
            n(&obj["status"]["replicas"]),
            n(&obj["status"]["readyReplicas"]),
            created,
        ],
        _ => vec![name, created],
    }
}

/// `includeObject=None|Metadata|Object` (kubectl's default is Metadata): what
/// each row carries besides its cells; kubectl reads the namespace from it.
fn row_object(obj: &Value, include: &str) -> Value {
    match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }),
    }
}

/// A Table of `items`; `meta` is the list's metadata (resourceVersion, continue).
pub fn table(res: &Resource, items: &[Value], meta: Value, include: &str) -> Value {
    let cols: Vec<Value> = columns(res)
        .iter()
        .map(|(name, ty, prio)| {
            json!({
                "name": name,
                "type": ty,
                "format": if *name == "Name" { "name" } else { "" },
                "description": "",
                "priority": prio,
            })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| json!({"cells": cells(res, o), "object": row_object(o, include)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": cols,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_kubectl_prints_them() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(900), "15m");
        assert_eq!(human_duration(4 * 3600 + 600), "4h10m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }

    #[test]
    fn a_waiting_reason_is_the_status() {
        let pod = json!({
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "ready": false, "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-01-01T00:00:00Z"}}
            }]}
        });
        let c = pod_cells(&pod);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[2], json!("CrashLoopBackOff"));
        assert!(c[3].as_str().unwrap().starts_with("2 ("), "{}", c[3]);
    }
}
