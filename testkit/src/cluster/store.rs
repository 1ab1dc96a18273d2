//! The object store: what etcd and the API server's registry are to a real
//! cluster. Objects are kept as JSON (patches, selectors and tables work on
//! JSON), every change gets the next resourceVersion and goes to a log that
//! watches replay from, then to the live watchers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusDetails};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Where a watch hears of the changes after its replay.
type ChangeReceiver = broadcast::Receiver<Arc<Change>>;

/// A served resource: where it lives in the API and how discovery names it.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// API version within the group: `v1`, `v1beta1`.
    pub version: &'static str,
    /// The URL path segment: `pods`.
    pub plural: &'static str,
    /// What kubectl accepts for one: `pod`; empty where discovery gives none.
    pub singular: &'static str,
    /// The objects' `kind`: `Pod`.
    pub kind: &'static str,
    /// Lives in a namespace (pods) or in the cluster (nodes).
    pub namespaced: bool,
    /// kubectl's abbreviations: `po`.
    pub short_names: &'static [&'static str],
    /// What discovery says may be done with it; kubectl checks these.
    pub verbs: &'static [&'static str],
}

impl Resource {
    /// `v1` or `apps/v1`, as objects carry it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const READ: &[&str] = &["get", "list", "watch"];
const ALL: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// Pods: created by tests or by the ReplicaSets of Deployments, run by the kubelet.
pub const PODS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    short_names: &["po"],
    verbs: ALL,
};
/// Events, written by the kubelet (OOM kills, restarts, back-off) and read by `scan`.
pub const EVENTS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "events",
    singular: "event",
    kind: "Event",
    namespaced: true,
    short_names: &["ev"],
    verbs: READ,
};
/// The one node, the kubelet's.
pub const NODES: Resource = Resource {
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    short_names: &["no"],
    verbs: READ,
};
/// Namespaces, for `-A` listings and kubectl's checks.
pub const NAMESPACES: Resource = Resource {
    group: "",
    version: "v1",
    plural: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    short_names: &["ns"],
    verbs: READ,
};
/// Deployments, which a `deploy/NAME` target resolves to pods through.
pub const DEPLOYMENTS: Resource = Resource {
    group: "apps",
    version: "v1",
    plural: "deployments",
    singular: "deployment",
    kind: "Deployment",
    namespaced: true,
    short_names: &["deploy"],
    verbs: ALL,
};
/// ReplicaSets, made from Deployments, which own the pods.
pub const REPLICASETS: Resource = Resource {
    group: "apps",
    version: "v1",
    plural: "replicasets",
    singular: "replicaset",
    kind: "ReplicaSet",
    namespaced: true,
    short_names: &["rs"],
    verbs: READ,
};
/// Computed from the cgroups on each read, never stored.
pub const POD_METRICS: Resource = Resource {
    group: "metrics.k8s.io",
    version: "v1beta1",
    plural: "pods",
    singular: "",
    kind: "PodMetrics",
    namespaced: true,
    short_names: &[],
    verbs: &["get", "list"],
};
/// Like [`POD_METRICS`]: the node's usage from the cluster's cgroup.
pub const NODE_METRICS: Resource = Resource {
    group: "metrics.k8s.io",
    version: "v1beta1",
    plural: "nodes",
    singular: "",
    kind: "NodeMetrics",
    namespaced: false,
    short_names: &[],
    verbs: &["get", "list"],
};

/// Every served resource, in discovery order.
pub const RESOURCES: &[&Resource] = &[
    &PODS,
    &EVENTS,
    &NODES,
    &NAMESPACES,
    &DEPLOYMENTS,
    &REPLICASETS,
    &POD_METRICS,
    &NODE_METRICS,
];

/// The resource at `group/version/plural`, if served.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// An API error, answered as a `Status` object with its HTTP code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status: 404, 409, 400...
    pub code: u16,
    /// `Status.reason`: `NotFound`, `AlreadyExists`, `BadRequest`, which clients match on.
    pub reason: &'static str,
    /// What a user reads, in the API server's wording.
    pub message: String,
    /// `details.name`: the object concerned, if one.
    pub name: Option<String>,
    /// `details.kind`: its resource's plural, as the API server puts it there.
    pub kind: Option<String>,
}

impl ApiError {
    /// An error without details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            name: None,
            kind: None,
        }
    }

    /// The API server's 404 for a missing object, with its `details`.
    pub fn not_found(res: &Resource, name: &str) -> Self {
        ApiError {
            name: Some(name.into()),
            kind: Some(res.plural.into()),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", qualified(res)),
            )
        }
    }

    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// The `Status` object the error is answered as.
    pub fn status(&self) -> Status {
        Status {
            code: Some(self.code.into()),
            message: Some(self.message.clone()),
            reason: Some(self.reason.into()),
            status: Some("Failure".into()),
            details: (self.name.is_some() || self.kind.is_some()).then(|| StatusDetails {
                name: self.name.clone(),
                kind: self.kind.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `pods` or `deployments.apps`, as the API server names a resource in messages.
fn qualified(res: &Resource) -> String {
    if res.group.is_empty() {
        res.plural.to_string()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

/// A change to one object, as a watch delivers it.
#[derive(Debug)]
pub struct Change {
    /// The store's resourceVersion after the change; watches resume from it.
    pub rv: u64,
    /// What the object is.
    pub resource: &'static Resource,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (as it was, for `DELETED`).
    pub object: Value,
}

impl Change {
    /// The object's namespace, `""` for a cluster-scoped one.
    pub fn namespace(&self) -> &str {
        self.object["metadata"]["namespace"].as_str().unwrap_or("")
    }
}

/// (resource, namespace, name); namespace is `""` for cluster-scoped objects.
type Key = (&'static str, &'static str, String, String);

#[derive(Default)]
struct Inner {
    rv: u64,
    uid: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Arc<Change>>,
}

/// The store, shared by the API handlers, the kubelet and the controllers.
pub struct Store {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
}

fn key(res: &'static Resource, ns: &str, name: &str) -> Key {
    (
        res.group,
        res.plural,
        if res.namespaced { ns } else { "" }.to_string(),
        name.to_string(),
    )
}

/// A Kubernetes timestamp for now.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round to seconds")
        .to_string()
}

impl Default for Store {
    fn default() -> Self {
        Store {
            inner: Mutex::default(),
            changes: broadcast::channel(4096).0,
        }
    }
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, inner: &mut Inner, res: &'static Resource, kind: &'static str, object: Value) {
        let change = Arc::new(Change {
            rv: inner.rv,
            resource: res,
            kind,
            object,
        });
        inner.log.push(change.clone());
        let _ = self.changes.send(change);
    }

    /// A fresh uid, unique within this cluster and across clusters of one run.
    pub fn new_uid(&self) -> String {
        let mut inner = self.lock();
        inner.uid += 1;
        let n = inner.uid;
        let salt = std::process::id() as u64 ^ (jiff::Timestamp::now().as_nanosecond() as u64);
        let a = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16 & 0xfff,
            n as u16 & 0xfff,
            n
        )
    }

    /// Stores a new object: fills in namespace, uid, creationTimestamp,
    /// resourceVersion and (for `generateName`) the name.
    pub fn create(
        &self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        let uid = self.new_uid();
        let meta = &mut obj["metadata"];
        if meta["name"].as_str().is_none_or(str::is_empty) {
            let Some(prefix) = meta["generateName"].as_str() else {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{} \"\" is invalid: metadata.name: Required value",
                        res.kind
                    ),
                ));
            };
            meta["name"] = json!(format!("{prefix}{}", &uid[uid.len() - 5..]));
        }
        if res.namespaced {
            match meta["namespace"].as_str() {
                Some(n) if n != ns => {
                    return Err(ApiError::bad_request(format!(
                        "the namespace of the provided object ({n}) does not match the namespace sent on the request ({ns})"
                    )))
                }
                _ => meta["namespace"] = json!(ns),
            }
        }
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(now());
        if res.group == "apps" {
            meta["generation"] = json!(1);
        }
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let mut inner = self.lock();
        let k = key(res, ns, &name);
        if inner.objects.contains_key(&k) {
            return Err(ApiError {
                name: Some(name.clone()),
                kind: Some(res.plural.into()),
                ..ApiError::new(
                    409,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", qualified(res)),
                )
            });
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, obj.clone());
        self.record(&mut inner, res, "ADDED", obj.clone());
        Ok(obj)
    }

    /// Stores a typed object (built from k8s-openapi types) as [`Store::create`] does.
    pub fn create_typed<T: Serialize>(
        &self,
        res: &'static Resource,
        ns: &str,
        obj: &T,
    ) -> Result<Value, ApiError> {
        let v = serde_json::to_value(obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
        self.create(res, ns, v)
    }

    /// The object `ns/name`, or the API server's 404.
    pub fn get(&self, res: &'static Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .objects
            .get(&key(res, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// [`Store::get`], deserialized as a k8s-openapi type; a 500 if the
    /// stored object does not fit it (the store holds what it was given).
    pub fn get_typed<T: DeserializeOwned>(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
    ) -> Result<T, ApiError> {
        let v = self.get(res, ns, name)?;
        serde_json::from_value(v).map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
    }

    /// Changes an object in place; `f` may refuse with an error. The
    /// identity fields (name, namespace, uid, creationTimestamp) are kept.
    pub fn update(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let k = key(res, ns, name);
        let Some(old) = inner.objects.get(&k) else {
            return Err(ApiError::not_found(res, name));
        };
        let mut obj = old.clone();
        f(&mut obj)?;
        for field in ["name", "namespace", "uid", "creationTimestamp"] {
            obj["metadata"][field] = old["metadata"][field].clone();
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if obj == *old {
            return Ok(obj);
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, obj.clone());
        self.record(&mut inner, res, "MODIFIED", obj.clone());
        Ok(obj)
    }

    /// [`Store::update`] on the typed object.
    pub fn update_typed<T: Serialize + DeserializeOwned>(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut T),
    ) -> Result<Value, ApiError> {
        self.update(res, ns, name, |v| {
            let mut t: T = serde_json::from_value(v.clone())
                .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
            f(&mut t);
            *v = serde_json::to_value(&t)
                .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
            Ok(())
        })
    }

    /// Removes the object now (no finalizers, no grace period), tells the
    /// watches, and returns it as deleted; a 404 if there was none.
    pub fn delete(&self, res: &'static Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let Some(mut obj) = inner.objects.remove(&key(res, ns, name)) else {
            return Err(ApiError::not_found(res, name));
        };
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.record(&mut inner, res, "DELETED", obj.clone());
        Ok(obj)
    }

    /// Every object of `res` (in `ns`, or everywhere when None), in
    /// namespace/name order, and the resourceVersion of that snapshot.
    pub fn list(&self, res: &'static Resource, ns: Option<&str>) -> (u64, Vec<Value>) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((g, p, n, _), _)| {
                *g == res.group && *p == res.plural && ns.is_none_or(|ns| n == ns)
            })
            .map(|(_, v)| v.clone())
            .collect();
        (inner.rv, items)
    }

    /// The changes after `rv` (to replay) and a receiver for the later ones,
    /// taken under one lock so that none is missed or sent twice. None when
    /// `rv` is in the future.
    pub fn watch_from(&self, rv: u64) -> Option<(Vec<Arc<Change>>, ChangeReceiver)> {
        let inner = self.lock();
        if rv > inner.rv {
            return None;
        }
        let start = inner.log.partition_point(|c| c.rv <= rv);
        Some((inner.log[start..].to_vec(), self.changes.subscribe()))
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver for every later change (the controllers' informer).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }
}
