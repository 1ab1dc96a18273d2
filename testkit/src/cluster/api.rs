//! The HTTP side of the test API server: routing, discovery, list (paged),
//! get, watch, create, patch and delete, as kube-apiserver answers them.
//! One handler parses the path itself: the API's URL scheme
//! (`/api/v1/namespaces/NS/pods/NAME/exec`, `/apis/GROUP/VERSION/...`) is
//! regular, and a router's static/param priorities do not fit it well.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
    ServerAddressByClientCIDR,
};
use serde_json::{json, Value};

use super::kubelet::Kubelet;
use super::select::{FieldSelector, LabelSelector};
use super::store::{
    lookup, now, ApiError, Resource, Store, DEPLOYMENTS, NAMESPACES, NODES, PODS, POD_METRICS,
    RESOURCES,
};
use super::{channels, patch, table, workloads};

/// One request the server answered: what tests count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// The raw query string (`limit=500&continue=...`), empty when none.
    pub query: String,
}

/// What every handler shares.
pub struct App {
    /// The objects and their watches.
    pub store: Arc<Store>,
    /// Runs the pods the store holds, and answers exec, attach and logs.
    pub kubelet: Arc<Kubelet>,
    /// Every request answered, in order, for tests that count calls.
    pub requests: Mutex<Vec<RequestRecord>>,
    /// Where the server listens, for URLs it writes into objects.
    pub addr: std::net::SocketAddr,
}

/// The query as (key, value) pairs; keys may repeat (`command=sh&command=-c`).
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Splits a raw query string and percent-decodes it.
    pub fn parse(q: &str) -> Self {
        Query(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }
    /// The first value of `k`.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `k`, in order (exec's `command` is one word each).
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// A boolean parameter as kubectl sends it (`true` or `1`); absent is false.
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
}

/// `v` as an `application/json` response with HTTP status `code`.
pub fn json_response(code: u16, v: &Value) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut v = serde_json::to_value(self.status()).unwrap_or_default();
        v["kind"] = json!("Status");
        v["apiVersion"] = json!("v1");
        v["metadata"] = json!({});
        json_response(self.code, &v)
    }
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    json_response(200, &serde_json::to_value(v).unwrap_or_default())
}

/// The single entry point: counts the request, then routes it.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    app.requests.lock().unwrap().push(RequestRecord {
        method: req.method().to_string(),
        path: path.clone(),
        query: query.clone(),
    });
    match route(&app, req, &path, Query::parse(&query)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn route(app: &Arc<App>, req: Request, path: &str, q: Query) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let get = method == Method::GET;
    match segs.as_slice() {
        ["version"] => return Ok(version()),
        ["api"] => return Ok(api_versions(app)),
        ["apis"] => return Ok(ok(&group_list())),
        ["api", "v1"] => return Ok(ok(&resource_list("", "v1"))),
        ["apis", g] => {
            return group_list()
                .groups
                .into_iter()
                .find(|x| x.name == *g)
                .map(|x| ok(&x))
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )
                })
        }
        ["apis", g, v] if RESOURCES.iter().any(|r| r.group == *g && r.version == *v) => {
            return Ok(ok(&resource_list(g, v)))
        }
        ["openapi", "v3"] => return Ok(json_response(200, &openapi_root())),
        ["openapi", "v3", gv @ ..] => {
            return openapi_group(&gv.join("/")).map(|d| json_response(200, &d))
        }
        _ => {}
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        }
    };
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let res_of = |p: &str| lookup(group, version, p).ok_or_else(not_found);
    // (resource, namespace, name, subresource, rest of the path)
    let (res, ns, name, sub, tail): (
        &'static Resource,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        &[&str],
    ) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if lookup(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            let res = res_of(plural)?;
            match more {
                [] => (res, Some(*ns), None, None, &[]),
                [name] => (res, Some(*ns), Some(*name), None, &[]),
                [name, sub, tail @ ..] => (res, Some(*ns), Some(*name), Some(*sub), tail),
            }
        }
        [plural] => (res_of(plural)?, None, None, None, &[]),
        [plural, name] => {
            let res = res_of(plural)?;
            if res.namespaced {
                return Err(not_found());
            }
            (res, None, Some(*name), None, &[])
        }
        _ => return Err(not_found()),
    };
    if *res == POD_METRICS || res.group == "metrics.k8s.io" {
        return metrics(app, res, ns, name, get);
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let as_table = accept.contains("as=Table");
    match (name, sub) {
        (None, None) if get && q.flag("watch") => Ok(watch(app, res, ns, &q, as_table)),
        (None, None) if get => list(app, res, ns, &q, as_table),
        (None, None) if method == Method::POST => {
            let ns = ns.ok_or_else(|| {
                ApiError::new(405, "MethodNotAllowed", "create needs a namespace")
            })?;
            let body = body_json(req).await?;
            create(app, res, ns, body, &q).map(|v| json_response(201, &v))
        }
        (Some(name), None) if get => {
            let obj = app.store.get(res, ns.unwrap_or(""), name)?;
            Ok(if as_table {
                json_response(
                    200,
                    &table::table(res, &[obj], json!({}), q.get("includeObject").unwrap_or("")),
                )
            } else {
                json_response(200, &obj)
            })
        }
        (Some(name), None) if method == Method::PATCH => {
            let ct = content_type(req.headers());
            let body = body_json(req).await?;
            let v = patch::patch(app, res, ns.unwrap_or(""), name, None, &ct, &body)?;
            Ok(json_response(200, &v))
        }
        (Some(name), None) if method == Method::DELETE => {
            delete(app, res, ns.unwrap_or(""), name).await
        }
        (Some(name), Some("ephemeralcontainers" | "status"))
            if method == Method::PATCH && *res == PODS =>
        {
            let ct = content_type(req.headers());
            let body = body_json(req).await?;
            let v = patch::patch(app, res, ns.unwrap_or(""), name, sub, &ct, &body)?;
            Ok(json_response(200, &v))
        }
        (Some(name), Some("ephemeralcontainers" | "status")) if get => Ok(json_response(
            200,
            &app.store.get(res, ns.unwrap_or(""), name)?,
        )),
        (Some(name), Some(sub)) if *res == PODS => {
            let ns = ns.unwrap_or("");
            match sub {
                "exec" => channels::exec(app, ns, name, &q, req).await,
                "portforward" => channels::portforward(app, ns, name, &q, req).await,
                "log" if get => {
                    let text = app
                        .kubelet
                        .log(ns, name, q.get("container"), q.flag("previous"))?;
                    Ok(([(header::CONTENT_TYPE, "text/plain")], text).into_response())
                }
                _ if sub == "proxy" || sub.contains(':') || sub.starts_with("proxy") => {
                    channels::proxy(app, ns, name, tail, req).await
                }
                _ => Err(not_found()),
            }
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        )),
    }
}

fn content_type(h: &HeaderMap) -> String {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn body_json(req: Request) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .or_else(|_| serde_yaml::from_slice(&bytes))
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON or YAML: {e}")))
}

/// `/version`: 1.33, so that the machine's kubectl dispatcher runs `kubectl.1.33`.
fn version() -> Response {
    ok(&k8s_openapi::apimachinery::pkg::version::Info {
        major: "1".into(),
        minor: "33".into(),
        git_version: "v1.33.0".into(),
        git_commit: "testkit".into(),
        git_tree_state: "clean".into(),
        build_date: "2026-01-01T00:00:00Z".into(),
        go_version: "go1.24.0".into(),
        compiler: "gc".into(),
        platform: "linux/amd64".into(),
        ..Default::default()
    })
}

fn api_versions(app: &App) -> Response {
    ok(&APIVersions {
        versions: vec!["v1".into()],
        server_address_by_client_cidrs: vec![ServerAddressByClientCIDR {
            client_cidr: "0.0.0.0/0".into(),
            server_address: app.addr.to_string(),
        }],
    })
}

fn group_list() -> APIGroupList {
    let mut groups: Vec<APIGroup> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if groups.iter().any(|g| g.name == r.group) {
            continue;
        }
        let gv = GroupVersionForDiscovery {
            group_version: r.api_version(),
            version: r.version.into(),
        };
        groups.push(APIGroup {
            name: r.group.into(),
            preferred_version: Some(gv.clone()),
            versions: vec![gv],
            server_address_by_client_cidrs: None,
        });
    }
    APIGroupList { groups }
}

fn resource_list(group: &str, version: &str) -> APIResourceList {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(APIResource {
            name: r.plural.into(),
            singular_name: r.singular.into(),
            namespaced: r.namespaced,
            kind: r.kind.into(),
            verbs: r.verbs.iter().map(|v| v.to_string()).collect(),
            short_names: (!r.short_names.is_empty())
                .then(|| r.short_names.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        });
        if **r == PODS {
            for (sub, kind, verbs) in [
                ("exec", "PodExecOptions", &["create", "get"][..]),
                ("portforward", "PodPortForwardOptions", &["create", "get"]),
                (
                    "proxy",
                    "PodProxyOptions",
                    &["create", "delete", "get", "patch", "update"],
                ),
                ("log", "Pod", &["get"]),
                ("status", "Pod", &["get", "patch"]),
                ("ephemeralcontainers", "Pod", &["get", "patch"]),
            ] {
                resources.push(APIResource {
                    name: format!("pods/{sub}"),
                    singular_name: String::new(),
                    namespaced: true,
                    kind: kind.into(),
                    verbs: verbs.iter().map(|v| v.to_string()).collect(),
                    ..Default::default()
                });
            }
        }
    }
    APIResourceList {
        group_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        resources,
    }
}

/// The creatable resources (Pods, Deployments), for the OpenAPI documents.
fn creatable() -> impl Iterator<Item = &'static Resource> {
    [&PODS, &DEPLOYMENTS].into_iter()
}

fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// `/openapi/v3`: the group versions that have a document.
fn openapi_root() -> Value {
    let paths: serde_json::Map<String, Value> = creatable()
        .map(|r| {
            (
                gv_path(r),
                json!({"serverRelativeURL": format!("/openapi/v3/{}?hash=testkit", gv_path(r))}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` and the like: only what kubectl reads from them, that
/// PATCH of each kind takes the `fieldValidation` query parameter. kubectl
/// then leaves validation to the server (`?fieldValidation=Strict`) instead
/// of validating against a schema itself, which would need the full document.
fn openapi_group(gv: &str) -> Result<Value, ApiError> {
    let mut paths = serde_json::Map::new();
    for r in creatable().filter(|r| gv_path(r) == gv) {
        let path = format!(
            "/{}/namespaces/{{namespace}}/{}/{{name}}",
            gv_path(r),
            r.plural
        );
        paths.insert(
            path,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    if paths.is_empty() {
        return Err(ApiError::new(
            404,
            "NotFound",
            format!("no OpenAPI document for {gv}"),
        ));
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (testkit)", "version": "v1.33.0"},
        "paths": paths,
    }))
}

/// The first field of `given` that the typed object did not keep: an
/// unknown field, which `fieldValidation=Strict` refuses.
fn unknown_field(given: &Value, typed: &Value, at: &str) -> Option<String> {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => g.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            match t.get(k) {
                None if !v.is_null() => Some(here),
                None => None,
                Some(tv) => unknown_field(v, tv, &here),
            }
        }),
        (Value::Array(g), Value::Array(t)) => g
            .iter()
            .zip(t)
            .enumerate()
            .find_map(|(i, (g, t))| unknown_field(g, t, &format!("{at}[{i}]"))),
        _ => None,
    }
}

/// The objects a list or watch selects.
fn selected(res: &'static Resource, items: Vec<Value>, q: &Query) -> Result<Vec<Value>, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))?;
    let _ = res;
    Ok(items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect())
}

fn key_of(o: &Value) -> String {
    format!(
        "{}/{}",
        o["metadata"]["namespace"].as_str().unwrap_or(""),
        o["metadata"]["name"].as_str().unwrap_or("")
    )
}

/// A list, paged with `limit` and `continue` as the API server pages: the
/// continue token names the last object sent, and the next page starts after it.
fn list(
    app: &App,
    res: &'static Resource,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> Result<Response, ApiError> {
    let (rv, items) = app.store.list(res, ns);
    let mut items = selected(res, items, q)?;
    if let Some(after) = q.get("continue").filter(|c| !c.is_empty()) {
        let (_, key) = after
            .split_once(':')
            .ok_or_else(|| ApiError::new(400, "BadRequest", "continue token is not valid"))?;
        items.retain(|o| key_of(o).as_str() > key);
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(limit) = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
    {
        if items.len() > limit {
            let rest = items.len() - limit;
            items.truncate(limit);
            meta["continue"] = json!(format!("{rv}:{}", key_of(items.last().expect("limit > 0"))));
            meta["remainingItemCount"] = json!(rest);
        }
    }
    if as_table {
        return Ok(json_response(
            200,
            &table::table(res, &items, meta, q.get("includeObject").unwrap_or("")),
        ));
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", res.kind),
            "apiVersion": res.api_version(),
            "metadata": meta,
            "items": items,
        }),
    ))
}

/// A watch: newline-delimited `{"type": ..., "object": ...}` events. With
/// no resourceVersion (or "0") it starts with the current objects as ADDED;
/// with one, it replays what changed after it; `sendInitialEvents=true`
/// ends the initial ones with a BOOKMARK, as streaming lists expect.
fn watch(
    app: &Arc<App>,
    res: &'static Resource,
    ns: Option<&str>,
    q: &Query,
    as_table: bool,
) -> Response {
    let labels = match LabelSelector::parse(q.get("labelSelector").unwrap_or("")) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let fields = match FieldSelector::parse(q.get("fieldSelector").unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let rv: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let initial = q.flag("sendInitialEvents") || rv == 0;
    let bookmark = q.flag("sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1800u64);
    let ns = ns.map(String::from);
    let (start_rv, current) = if initial {
        let (rv, items) = app.store.list(res, ns.as_deref());
        (rv, items)
    } else {
        (rv, Vec::new())
    };
    let Some((replay, mut live)) = app.store.watch_from(start_rv) else {
        return ApiError::new(410, "Expired", format!("too old resource version: {rv}"))
            .into_response();
    };
    let include = q.get("includeObject").unwrap_or("").to_string();
    let wrap = move |kind: &str, obj: Value| -> Bytes {
        let object = if as_table && kind != "BOOKMARK" {
            table::table(res, &[obj], json!({}), &include)
        } else {
            obj
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let matches = move |o: &Value| labels.matches(o) && fields.matches(o);
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let wanted = |c: &super::store::Change| {
            c.resource == res
                && ns.as_deref().is_none_or(|n| c.namespace() == n)
                && matches(&c.object)
        };
        for o in current.into_iter().filter(|o| matches(o)) {
            if tx.send(wrap("ADDED", o)).await.is_err() {
                return;
            }
        }
        if bookmark {
            let b = json!({
                "kind": res.kind,
                "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": start_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
            });
            if tx.send(wrap("BOOKMARK", b)).await.is_err() {
                return;
            }
        }
        let mut last = start_rv;
        for c in replay.iter().filter(|c| wanted(c)) {
            last = c.rv;
            if tx.send(wrap(c.kind, c.object.clone())).await.is_err() {
                return;
            }
        }
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                c = live.recv() => match c {
                    Ok(c) if c.rv > last && wanted(&c) => {
                        last = c.rv;
                        if tx.send(wrap(c.kind, c.object.clone())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Fell behind or the store is gone: end; the client re-lists.
                    Err(_) => return,
                },
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("a response")
}

/// POST: validated against the k8s-openapi types, stored, then acted on
/// (a Pod is started, a Deployment gets its ReplicaSet and pods).
fn create(
    app: &Arc<App>,
    res: &'static Resource,
    ns: &str,
    body: Value,
    q: &Query,
) -> Result<Value, ApiError> {
    let invalid = |e: String| {
        ApiError::new(
            400,
            "BadRequest",
            format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                res.kind, res.version, res.kind
            ),
        )
    };
    let typed = match res {
        r if *r == PODS => {
            serde_json::from_value::<Pod>(body.clone()).and_then(|p| serde_json::to_value(&p))
        }
        r if *r == DEPLOYMENTS => serde_json::from_value::<Deployment>(body.clone())
            .and_then(|d| serde_json::to_value(&d)),
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("the test API server does not create {}", res.plural),
            ))
        }
    }
    .map_err(|e| invalid(e.to_string()))?;
    if q.get("fieldValidation") == Some("Strict") {
        if let Some(f) = unknown_field(&body, &typed, "") {
            return Err(invalid(format!(
                "strict decoding error: unknown field \"{f}\""
            )));
        }
    }
    let mut body = body;
    if *res == PODS {
        default_pod(&mut body);
    }
    if q.get("dryRun").is_some() {
        return Ok(body);
    }
    ensure_namespace(&app.store, ns);
    let obj = app.store.create(res, ns, body)?;
    if *res == PODS {
        start_pod(app, &obj);
    } else {
        workloads::reconcile_deployment(app, ns, obj["metadata"]["name"].as_str().unwrap_or(""))?;
    }
    app.store
        .get(res, ns, obj["metadata"]["name"].as_str().unwrap_or(""))
}

/// The API server's defaults for a pod: clients (kubectl debug among them)
/// read fields such as `spec.securityContext` that every real pod has.
pub fn default_pod(pod: &mut Value) {
    let spec = &mut pod["spec"];
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("securityContext", json!({})),
        ("enableServiceLinks", json!(true)),
        ("serviceAccountName", json!("default")),
    ] {
        if spec[k].is_null() {
            spec[k] = v;
        }
    }
    for c in spec["containers"].as_array_mut().into_iter().flatten() {
        for (k, v) in [
            ("imagePullPolicy", json!("IfNotPresent")),
            ("terminationMessagePath", json!("/dev/termination-log")),
            ("terminationMessagePolicy", json!("File")),
            ("resources", json!({})),
        ] {
            if c[k].is_null() {
                c[k] = v;
            }
        }
    }
}

/// Hands a stored pod to the kubelet; a pod it cannot start is marked Failed.
pub fn start_pod(app: &Arc<App>, obj: &Value) {
    let pod: Pod = match serde_json::from_value(obj.clone()) {
        Ok(p) => p,
        Err(_) => return,
    };
    if let Err(e) = app.kubelet.run_pod(pod) {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        let _ = app.store.update(&PODS, ns, name, |p| {
            p["status"] = json!({"phase": "Failed", "reason": "StartError", "message": e.message});
            Ok(())
        });
    }
}

/// A namespace named by an object exists from then on (a real server
/// refuses the object instead; tests and manifests stay shorter this way).
pub fn ensure_namespace(store: &Store, ns: &str) {
    if store.get(&NAMESPACES, "", ns).is_err() {
        let _ = store.create(
            &NAMESPACES,
            "",
            json!({"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
    }
}

/// DELETE: a pod is marked (deletionTimestamp), its containers are stopped,
/// then it goes; a Deployment takes its ReplicaSets and pods with it.
async fn delete(
    app: &Arc<App>,
    res: &'static Resource,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    if *res == PODS {
        let obj = app.store.update(res, ns, name, |p| {
            if p["metadata"]["deletionTimestamp"].is_null() {
                p["metadata"]["deletionTimestamp"] = json!(now());
                p["metadata"]["deletionGracePeriodSeconds"] = json!(2);
            }
            Ok(())
        })?;
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let app2 = app.clone();
        let (ns2, name2) = (ns.to_string(), name.to_string());
        tokio::spawn(async move {
            app2.kubelet.stop_pod(&uid).await;
            let _ = app2.store.delete(&PODS, &ns2, &name2);
        });
        return Ok(json_response(200, &obj));
    }
    if *res == DEPLOYMENTS {
        let obj = app.store.delete(res, ns, name)?;
        workloads::delete_owned(app, ns, &obj).await;
        return Ok(json_response(200, &obj));
    }
    Err(ApiError::new(
        405,
        "MethodNotAllowed",
        format!("the test API server does not delete {}", res.plural),
    ))
}

/// metrics.k8s.io: PodMetrics from the containers' cgroups, NodeMetrics from the host.
fn metrics(
    app: &App,
    res: &'static Resource,
    ns: Option<&str>,
    name: Option<&str>,
    get: bool,
) -> Result<Response, ApiError> {
    if !get {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "metrics are read-only",
        ));
    }
    if *res == POD_METRICS {
        let pods: Vec<Value> = match name {
            Some(n) => vec![app.store.get(&PODS, ns.unwrap_or(""), n)?],
            None => app.store.list(&PODS, ns).1,
        };
        let items: Vec<Value> = pods
            .iter()
            .filter(|p| p["status"]["phase"] == json!("Running"))
            .map(|p| app.kubelet.pod_metrics(p))
            .collect();
        if name.is_some() {
            return items
                .into_iter()
                .next()
                .map(|m| json_response(200, &m))
                .ok_or_else(|| ApiError::not_found(res, name.unwrap_or("")));
        }
        return Ok(json_response(
            200,
            &json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}),
        ));
    }
    let node = app.kubelet.node.clone();
    if name.is_some_and(|n| n != node) {
        return Err(ApiError::not_found(res, name.unwrap_or("")));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |k: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let m = json!({
        "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": node}, "timestamp": now(), "window": "10s",
        "usage": {"cpu": "0", "memory": format!("{}Ki", kb("MemTotal:").saturating_sub(kb("MemAvailable:")))},
    });
    if name.is_some() {
        return Ok(json_response(200, &m));
    }
    Ok(json_response(
        200,
        &json!({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [m]}),
    ))
}

/// The node object this cluster's kubelet registers.
pub fn register_node(store: &Store, name: &str) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0")
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let capacity = json!({"cpu": cpus.to_string(), "memory": format!("{mem_kb}Ki"), "pods": "250"});
    let _ = store.create(
        &NODES,
        "",
        json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
            "status": {
                "capacity": capacity, "allocatable": capacity,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0", "containerRuntimeVersion": "containerd://testkit", "operatingSystem": "linux", "architecture": "amd64", "osImage": "testkit", "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
            },
        }),
    );
    for ns in ["default", "kube-system", "kube-public"] {
        ensure_namespace(store, ns);
    }
}

/// The default container of a pod: kubectl's annotation, else the first.
pub fn default_container(pod: &Value) -> String {
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            pod["spec"]["containers"][0]["name"]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default()
}
