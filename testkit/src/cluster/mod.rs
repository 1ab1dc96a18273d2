//! A test Kubernetes cluster: an API server that speaks the real wire
//! format (checked by kube-rs and by the machine's real kubectl), and a
//! kubelet whose pods are real local processes in their own namespaces and
//! memory cgroups. No kube-apiserver can be installed on these machines, so
//! this stands in for one in the tests; the product talks to it through the
//! same `kube::Client` (and kubeconfig) it uses against a real cluster.
//!
//! ```no_run
//! let cluster = testkit::cluster::TestCluster::start(&[r#"
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: web}
//! spec:
//!   containers:
//!   - name: app
//!     image: example/web:1
//!     command: ["/usr/bin/python3", "-m", "http.server", "8080"]
//!     resources: {limits: {memory: 64Mi}}
//! "#]).unwrap();
//! cluster.wait_for_pod("default", "web", "running", testkit::cluster::running).unwrap();
//! // kubectl --kubeconfig <cluster.kubeconfig()> get pods
//! ```
//!
//! What is served, and how it behaves, is documented on each module:
//! [`api`] (discovery, list/get/watch, create, patch, delete, Table output),
//! [`channels`] (exec, port-forward, proxy), [`kubelet`] (pods as processes,
//! OOM kills, restarts, events, metrics), [`workloads`] (Deployments).

pub mod api;
pub mod channels;
pub mod kubelet;
pub mod launch;
pub mod patch;
pub mod select;
pub mod store;
pub mod table;
pub mod workloads;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

pub use api::RequestRecord;
pub use kubelet::DISTROLESS_ANNOTATION;
use store::{Store, DEPLOYMENTS, PODS};

/// A failure to start the cluster or to apply a manifest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster's cgroup tree could not be made (no writable cgroup).
    #[error("cgroup: {0}")]
    Cgroup(#[from] lh_cgroup::Error),
    /// A file or socket of the cluster failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A manifest that does not parse, or of a kind the cluster does not
    /// start (it starts Pods and Deployments).
    #[error("manifest: {0}")]
    Manifest(String),
    /// The store refused an object, with the API server's message.
    #[error("API: {0}")]
    Api(String),
    /// A pod (the first string) did not reach a state (the second) in time;
    /// the third is its last status, for the test's message.
    #[error("timed out waiting for pod {0} to be {1}; last seen: {2}")]
    Timeout(String, String, String),
}

/// How a cluster starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// The first restart back-off; it doubles per crash, up to 30 times this.
    /// A kubelet uses 10 s (up to 5 min); 1 s keeps crash-loop tests short.
    pub back_off: Duration,
    /// YAML texts (several documents each, `---`) of Pods and Deployments to start.
    pub manifests: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            back_off: Duration::from_secs(1),
            manifests: Vec::new(),
        }
    }
}

/// A running test cluster. Dropping it stops every pod (SIGTERM, then
/// SIGKILL), removes every cgroup it made and its scratch directory.
pub struct TestCluster {
    url: String,
    kubeconfig: PathBuf,
    dir: PathBuf,
    app: Arc<api::App>,
    handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

static N: AtomicU32 = AtomicU32::new(0);

/// A predicate for [`TestCluster::wait_for_pod`]: every container running.
pub fn running(p: &Pod) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.phase.as_deref() == Some("Running")
            && s.container_statuses
                .iter()
                .flatten()
                .all(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
    })
}

/// The documents of a YAML text, skipping empty ones.
pub fn documents(yaml: &str) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| Error::Manifest(e.to_string()))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

impl TestCluster {
    /// Starts a cluster with default options and the given manifests.
    pub fn start(manifests: &[&str]) -> Result<Self, Error> {
        Self::start_with(Options {
            manifests: manifests.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        })
    }

    /// Starts the API server on a free loopback port, registers the node,
    /// writes the kubeconfig and starts the manifests' objects.
    pub fn start_with(opts: Options) -> Result<Self, Error> {
        let dir = crate::build_dir().join(format!(
            "cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store::default());
        let kubelet = Arc::new(kubelet::Kubelet::new(
            store.clone(),
            dir.clone(),
            opts.back_off,
        )?);
        api::register_node(&store, &kubelet.node);
        let app = Arc::new(api::App {
            store,
            kubelet,
            requests: Mutex::default(),
            addr,
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit-cluster")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app2 = app.clone();
        let thread = std::thread::Builder::new()
            .name("testkit-cluster".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let router = axum::Router::new()
                        .fallback(api::handle)
                        .with_state(app2.clone());
                    let server = tokio::spawn(async move { axum::serve(listener, router).await });
                    tokio::spawn(workloads::run_controller(app2.clone()));
                    let _ = rx.await;
                    server.abort();
                    app2.kubelet.shutdown().await;
                });
                rt.shutdown_timeout(Duration::from_secs(5));
            })?;
        let url = format!("http://{addr}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_text(&url))?;
        let cluster = TestCluster {
            url,
            kubeconfig,
            dir,
            app,
            handle,
            shutdown: Some(tx),
            thread: Some(thread),
        };
        for m in &opts.manifests {
            cluster.apply(m)?;
        }
        Ok(cluster)
    }

    /// The kubeconfig file (one cluster, context `testkit`, namespace `default`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `http://127.0.0.1:PORT`: plain HTTP on loopback, which kubectl and kube-rs accept.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates the Pods and Deployments of a YAML text (several documents,
    /// `---`), as `kubectl create -f` would; returns the stored objects.
    pub fn apply(&self, yaml: &str) -> Result<Vec<Value>, Error> {
        let _g = self.handle.enter();
        let mut out = Vec::new();
        for doc in documents(yaml)? {
            let kind = doc["kind"].as_str().unwrap_or("").to_string();
            let res = match kind.as_str() {
                "Pod" => &PODS,
                "Deployment" => &DEPLOYMENTS,
                other => {
                    return Err(Error::Manifest(format!(
                        "kind {other:?}: the test cluster starts Pods and Deployments"
                    )))
                }
            };
            let ns = doc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            api::ensure_namespace(&self.app.store, &ns);
            let mut doc = doc;
            if kind == "Pod" {
                api::default_pod(&mut doc);
            }
            let obj = self
                .app
                .store
                .create(res, &ns, doc)
                .map_err(|e| Error::Api(e.message))?;
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            if kind == "Pod" {
                api::start_pod(&self.app, &obj);
            } else {
                workloads::reconcile_deployment(&self.app, &ns, &name)
                    .map_err(|e| Error::Api(e.message))?;
            }
            out.push(obj);
        }
        Ok(out)
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.requests.lock().unwrap().clone()
    }

    /// How many requests were made to exactly `path` (any method and query).
    pub fn request_count(&self, path: &str) -> usize {
        self.app
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Forgets the requests served so far (to count one command's own).
    pub fn clear_requests(&self) {
        self.app.requests.lock().unwrap().clear();
    }

    /// The pod as the API serves it now.
    pub fn pod(&self, ns: &str, name: &str) -> Option<Pod> {
        self.app.store.get_typed(&PODS, ns, name).ok()
    }

    /// The names of the pods in `ns` now (a Deployment's are generated).
    pub fn pod_names(&self, ns: &str) -> Vec<String> {
        self.app
            .store
            .list(&PODS, Some(ns))
            .1
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect()
    }

    /// Waits (up to [`crate::READY_TIMEOUT`]) until the pod satisfies `pred`;
    /// `what` names the wait in the error, which shows the pod's last status.
    pub fn wait_for_pod(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        pred: impl Fn(&Pod) -> bool,
    ) -> Result<Pod, Error> {
        poll(&format!("{ns}/{name}"), what, || match self.pod(ns, name) {
            Some(p) if pred(&p) => Ok(p),
            Some(p) => Err(serde_json::to_string(&p.status).unwrap_or_default()),
            None => Err("no such pod".into()),
        })
    }

    /// Waits until the log of a container's current run contains `needle`
    /// (a readiness line such as `listening on`).
    pub fn wait_for_log(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        needle: &str,
    ) -> Result<String, Error> {
        poll(
            &format!("{ns}/{pod}"),
            &format!("logging {needle:?}"),
            || match self.app.kubelet.log(ns, pod, Some(container), false) {
                Ok(log) => {
                    let text = String::from_utf8_lossy(&log).into_owned();
                    if text.contains(needle) {
                        Ok(text)
                    } else {
                        Err(format!("log: {text:?}"))
                    }
                }
                Err(e) => Err(e.message),
            },
        )
    }

    /// The host pid of a running container's PID 1.
    pub fn container_pid(&self, ns: &str, pod: &str, container: &str) -> Option<u32> {
        self.app.kubelet.running(ns, pod, container).map(|r| r.pid)
    }

    /// The memory cgroup directory of a running container
    /// (`.../kubepods/<qos>/pod<UID>/<containerID>`).
    pub fn container_cgroup(&self, ns: &str, pod: &str, container: &str) -> Option<PathBuf> {
        self.app
            .kubelet
            .running(ns, pod, container)
            .map(|r| r.cgroup)
    }

    /// The cluster's own cgroup, which holds `kubepods`; gone after drop.
    pub fn cgroup_root(&self) -> PathBuf {
        self.app.kubelet.cgroup_root().to_path_buf()
    }

    /// Host pids of every program the cluster started (containers, sandboxes,
    /// execs, ephemeral containers): none may be alive after drop.
    pub fn started_pids(&self) -> Vec<u32> {
        self.app.kubelet.started_pids()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Calls `check` until it succeeds or [`crate::READY_TIMEOUT`] passes;
/// its error says what was seen last. Pod changes are process starts and
/// exits: checking every 20 ms sees them promptly without a watch.
fn poll<T>(
    target: &str,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, Error> {
    let deadline = Instant::now() + crate::READY_TIMEOUT;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() >= deadline => {
                return Err(Error::Timeout(target.into(), what.into(), last))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A kubeconfig for `url`: one cluster, user and context, all `testkit`.
pub fn kubeconfig_text(url: &str) -> String {
    format!(
        "# written by `testkit cluster`: a test API server, not a real cluster\n\
apiVersion: v1\n\
kind: Config\n\
clusters:\n\
- name: testkit\n  cluster:\n    server: {url}\n\
contexts:\n\
- name: testkit\n  context:\n    cluster: testkit\n    user: testkit\n    namespace: default\n\
current-context: testkit\n\
users:\n\
- name: testkit\n  user: {{}}\n\
preferences: {{}}\n"
    )
}
