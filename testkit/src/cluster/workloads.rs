//! The Deployment and ReplicaSet controllers, enough for `deploy/NAME` to
//! be followed as on a real cluster: Deployment → ReplicaSet
//! (`<deploy>-<pod-template-hash>`) → pods (`<rs>-<suffix>`), each linked to
//! its owner by `ownerReferences`, with replica counts kept in the status.

use std::sync::Arc;

use serde_json::{json, Value};

use super::api::{default_pod, start_pod, App};
use super::store::{ApiError, Store, DEPLOYMENTS, PODS, REPLICASETS};

/// The owner reference a controller puts on what it creates.
fn owner_ref(owner: &Value) -> Value {
    json!([{
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

fn owned_by<'a>(items: &'a [Value], owner: &Value) -> impl Iterator<Item = &'a Value> {
    let uid = owner["metadata"]["uid"].clone();
    items.iter().filter(move |o| {
        o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
    })
}

/// The pod-template-hash label: a short hash of the pod template (FNV-1a,
/// as the controller's, written in the same alphabet).
fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    let mut n = h as u64;
    while out.len() < 10 {
        out.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n = n / ALPHABET.len() as u64 + (h as u64).rotate_left(out.len() as u32 * 7);
    }
    out
}

/// Brings a Deployment's ReplicaSet and pods to its spec: creates the
/// ReplicaSet of the current template, scales it to `replicas`, and scales
/// the ReplicaSets of older templates to zero.
pub fn reconcile_deployment(app: &Arc<App>, ns: &str, name: &str) -> Result<(), ApiError> {
    let deploy = app.store.get(&DEPLOYMENTS, ns, name)?;
    let template = deploy["spec"]["template"].clone();
    let hash = template_hash(&template);
    let replicas = deploy["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let rs_name = format!("{name}-{hash}");
    let (_, all_rs) = app.store.list(&REPLICASETS, Some(ns));
    for old in owned_by(&all_rs, &deploy) {
        if old["metadata"]["name"] != json!(rs_name) {
            let old_name = old["metadata"]["name"].as_str().unwrap_or("").to_string();
            let _ = app.store.update(&REPLICASETS, ns, &old_name, |rs| {
                rs["spec"]["replicas"] = json!(0);
                Ok(())
            });
            scale_replicaset(app, ns, &old_name)?;
        }
    }
    if app.store.get(&REPLICASETS, ns, &rs_name).is_err() {
        let mut labels = template["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["pod-template-hash"] = json!(hash);
        let mut selector = deploy["spec"]["selector"].clone();
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let mut tpl = template.clone();
        tpl["metadata"]["labels"] = labels.clone();
        app.store.create(
            &REPLICASETS,
            ns,
            json!({
                "metadata": {
                    "name": rs_name,
                    "labels": labels,
                    "annotations": {"deployment.kubernetes.io/revision": "1"},
                    "ownerReferences": owner_ref(&deploy),
                },
                "spec": {"replicas": replicas, "selector": selector, "template": tpl},
                "status": {"replicas": 0},
            }),
        )?;
    } else {
        app.store.update(&REPLICASETS, ns, &rs_name, |rs| {
            rs["spec"]["replicas"] = json!(replicas);
            Ok(())
        })?;
    }
    scale_replicaset(app, ns, &rs_name)?;
    update_status(&app.store, ns, name);
    Ok(())
}

/// Creates or deletes pods until the ReplicaSet has `spec.replicas` of them.
fn scale_replicaset(app: &Arc<App>, ns: &str, rs_name: &str) -> Result<(), ApiError> {
    let rs = app.store.get(&REPLICASETS, ns, rs_name)?;
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(0).max(0) as usize;
    let (_, pods) = app.store.list(&PODS, Some(ns));
    let mine: Vec<Value> = owned_by(&pods, &rs)
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .cloned()
        .collect();
    for _ in mine.len()..want {
        let mut tpl = rs["spec"]["template"].clone();
        let mut meta = tpl["metadata"].take();
        if !meta.is_object() {
            meta = json!({});
        }
        meta["generateName"] = json!(format!("{rs_name}-"));
        meta["ownerReferences"] = owner_ref(&rs);
        let mut pod = json!({"metadata": meta, "spec": tpl["spec"]});
        default_pod(&mut pod);
        let obj = app.store.create(&PODS, ns, pod)?;
        start_pod(app, &obj);
    }
    for extra in mine.iter().skip(want) {
        let uid = extra["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let pod_name = extra["metadata"]["name"].as_str().unwrap_or("").to_string();
        let app2 = app.clone();
        let ns2 = ns.to_string();
        tokio::spawn(async move {
            app2.kubelet.stop_pod(&uid).await;
            let _ = app2.store.delete(&PODS, &ns2, &pod_name);
        });
    }
    Ok(())
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == json!("Ready") && c["status"] == json!("True"))
    })
}

/// Replica counts of a Deployment and its ReplicaSets, from their pods.
fn update_status(store: &Store, ns: &str, name: &str) {
    let Ok(deploy) = store.get(&DEPLOYMENTS, ns, name) else {
        return;
    };
    let (_, all_rs) = store.list(&REPLICASETS, Some(ns));
    let (_, pods) = store.list(&PODS, Some(ns));
    let (mut total, mut total_ready, mut updated) = (0, 0, 0);
    let hash = template_hash(&deploy["spec"]["template"]);
    for rs in owned_by(&all_rs, &deploy) {
        let mine: Vec<&Value> = owned_by(&pods, rs).collect();
        let n = mine.len();
        let r = mine.iter().filter(|p| ready(p)).count();
        total += n;
        total_ready += r;
        if rs["metadata"]["labels"]["pod-template-hash"] == json!(hash) {
            updated += n;
        }
        let rs_name = rs["metadata"]["name"].as_str().unwrap_or("").to_string();
        let _ = store.update(&REPLICASETS, ns, &rs_name, |rs| {
            rs["status"] = json!({"replicas": n, "readyReplicas": r, "availableReplicas": r, "fullyLabeledReplicas": n, "observedGeneration": 1});
            Ok(())
        });
    }
    let _ = store.update(&DEPLOYMENTS, ns, name, |d| {
        d["status"] = json!({
            "replicas": total, "readyReplicas": total_ready, "availableReplicas": total_ready,
            "updatedReplicas": updated, "observedGeneration": d["metadata"]["generation"],
        });
        Ok(())
    });
}

/// Deletes what a deleted Deployment owned: its ReplicaSets and their pods.
pub async fn delete_owned(app: &Arc<App>, ns: &str, deploy: &Value) {
    let (_, all_rs) = app.store.list(&REPLICASETS, Some(ns));
    let (_, pods) = app.store.list(&PODS, Some(ns));
    for rs in owned_by(&all_rs, deploy) {
        for pod in owned_by(&pods, rs) {
            app.kubelet
                .stop_pod(pod["metadata"]["uid"].as_str().unwrap_or(""))
                .await;
            let _ = app
                .store
                .delete(&PODS, ns, pod["metadata"]["name"].as_str().unwrap_or(""));
        }
        let _ = app.store.delete(
            &REPLICASETS,
            ns,
            rs["metadata"]["name"].as_str().unwrap_or(""),
        );
    }
}

/// Follows pod changes: keeps replica counts current, and replaces a pod
/// of a ReplicaSet that was deleted, as the ReplicaSet controller does.
pub async fn run_controller(app: Arc<App>) {
    let mut changes = app.store.subscribe();
    loop {
        let c = match changes.recv().await {
            Ok(c) => c,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        if c.resource != &PODS {
            continue;
        }
        let Some(owner) = c.object["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == json!("ReplicaSet")))
        else {
            continue;
        };
        let ns = c.namespace().to_string();
        let rs_name = owner["name"].as_str().unwrap_or("").to_string();
        let Ok(rs) = app.store.get(&REPLICASETS, &ns, &rs_name) else {
            continue;
        };
        let Some(deploy) = rs["metadata"]["ownerReferences"][0]["name"]
            .as_str()
            .map(String::from)
        else {
            continue;
        };
        if c.kind == "DELETED" && app.store.get(&DEPLOYMENTS, &ns, &deploy).is_ok() {
            let _ = scale_replicaset(&app, &ns, &rs_name);
        }
        update_status(&app.store, &ns, &deploy);
    }
}
