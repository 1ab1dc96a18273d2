//! The kubelet: runs each pod's containers as real local processes and
//! writes back what really happened (starts, exits, kernel OOM kills,
//! restarts with back-off) as pod status and events.
//!
//! Per pod, as a kubelet with containerd and the cgroupfs driver does: a
//! sandbox process holds the pod's network and UTS namespaces (loopback up,
//! hostname = pod name); each container is PID 1 of its own PID and mount
//! namespaces (with its own `/proc`) in the pod's network, with its memory
//! limit on its own cgroup `kubepods/<qos>/pod<UID>/<containerID>`.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, EnvVar, Event, EventSource, ObjectReference, Pod,
    PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use lh_cgroup::MemoryCgroup;
use nix::sched::CloneFlags;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::launch::{self, Setup};
use super::store::{now, ApiError, Store, EVENTS, PODS};

/// A started container: its process, its pid, and the environment it got.
type Started = (tokio::process::Child, u32, Vec<(String, String)>);

/// Annotation naming the containers (comma-separated) that get a root
/// filesystem of their own holding only their `command[0]` (which must be a
/// static binary): a "distroless" image, with no shell for `exec`.
pub const DISTROLESS_ANNOTATION: &str = "testkit.leakhound.dev/distroless";

/// The PATH a container gets when its env sets none (as container images do).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a stopped container has after SIGTERM before SIGKILL (a kubelet
/// waits `terminationGracePeriodSeconds`; tests should not wait 30 s).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The cluster's cgroups: `<own>/testkit-cluster-<pid>-<n>/kubepods/{burstable,besteffort}`.
/// Fields drop in order: children before parents.
struct Tree {
    besteffort: MemoryCgroup,
    burstable: MemoryCgroup,
    kubepods: MemoryCgroup,
    /// Held only to be removed last.
    _root: MemoryCgroup,
}

/// A container being run now: what exec and metrics need.
#[derive(Clone, Debug)]
pub struct Running {
    /// Host pid of the container's PID 1.
    pub pid: u32,
    /// The container's memory cgroup, which exec'd processes join too.
    pub cgroup: PathBuf,
    /// The container's environment, which exec'd processes get too.
    pub env: Vec<(String, String)>,
}

/// One pod on this node.
pub struct PodRt {
    /// The pod's namespace.
    pub ns: String,
    /// The pod's name.
    pub name: String,
    /// `metadata.uid`, which names its cgroup as a kubelet's would.
    pub uid: String,
    ip: String,
    cgroup: Mutex<Option<MemoryCgroup>>,
    sandbox: Mutex<Option<(tokio::process::Child, MemoryCgroup)>>,
    netns: OwnedFd,
    utsns: OwnedFd,
    running: Mutex<HashMap<String, Running>>,
    statuses: Mutex<BTreeMap<String, ContainerStatus>>,
    ephemeral: Mutex<BTreeMap<String, ContainerStatus>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// (name, type) of the regular containers, in spec order.
    order: Vec<String>,
    restart_policy: String,
}

/// The one node of the test cluster: starts each pod's containers as real
/// local processes in their own namespaces and cgroups, restarts them by
/// the pod's policy, and writes their statuses back to the store.
pub struct Kubelet {
    store: Arc<Store>,
    /// The node's name, as pods' `spec.nodeName` gives it.
    pub node: String,
    dir: PathBuf,
    back_off: Duration,
    tree: Mutex<Option<Tree>>,
    root_path: PathBuf,
    pods: Mutex<HashMap<String, Arc<PodRt>>>,
    next_ip: AtomicU32,
    /// Host pids of every program started (containers, sandboxes, execs), for
    /// tests that prove none is left.
    started: Mutex<Vec<u32>>,
}

fn cg_err(e: lh_cgroup::Error) -> ApiError {
    ApiError::new(500, "InternalError", format!("cgroup: {e}"))
}

fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |e| ApiError::new(500, "InternalError", format!("{what}: {e}"))
}

fn time_now() -> Time {
    Time(jiff::Timestamp::now())
}

/// A random 64-hex-digit container id, as containerd's.
fn container_id() -> String {
    let mut b = [0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = jiff::Timestamp::now().as_nanosecond() as u64;
        b[..8].copy_from_slice(&t.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A memory quantity (`64Mi`, `1G`, `268435456`) in bytes.
pub fn quantity_bytes(q: &str) -> Option<u64> {
    lh_cgroup::parse_size(q).ok()
}

/// The pod's QoS class, as the kubelet computes it.
fn qos_class(pod: &Pod) -> &'static str {
    let spec = pod.spec.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let r = c.resources.as_ref();
        let limits = r.and_then(|r| r.limits.as_ref());
        let requests = r.and_then(|r| r.requests.as_ref());
        any |= limits.is_some_and(|l| !l.is_empty()) || requests.is_some_and(|l| !l.is_empty());
        for res in ["cpu", "memory"] {
            let l = limits.and_then(|l| l.get(res));
            let q = requests.and_then(|q| q.get(res)).or(l);
            if l.is_none() || l != q {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

impl Kubelet {
    /// Creates the cluster's cgroup tree (`kubepods`, with its QoS
    /// children) under our own cgroup. `dir` holds the pods' files (logs,
    /// root filesystems); `back_off` is the first delay of CrashLoopBackOff
    /// (the first restart is at once, later ones double it, up to 30 times it).
    pub fn new(
        store: Arc<Store>,
        dir: PathBuf,
        back_off: Duration,
    ) -> Result<Self, lh_cgroup::Error> {
        let root = MemoryCgroup::create_named("testkit-cluster", None)?;
        let kubepods = root.create_child("kubepods", None)?;
        let burstable = kubepods.create_child("burstable", None)?;
        let besteffort = kubepods.create_child("besteffort", None)?;
        let root_path = root.path().to_path_buf();
        Ok(Kubelet {
            store,
            node: "testkit-node".into(),
            dir,
            back_off,
            tree: Mutex::new(Some(Tree {
                besteffort,
                burstable,
                kubepods,
                _root: root,
            })),
            root_path,
            pods: Mutex::default(),
            next_ip: AtomicU32::new(2),
            started: Mutex::default(),
        })
    }

    /// The cluster's cgroup (`testkit-cluster-<pid>-<n>`, holding `kubepods`).
    pub fn cgroup_root(&self) -> &Path {
        &self.root_path
    }

    /// Host pids of every program it started (containers and exec'd
    /// commands), so that a test can check none outlives the cluster.
    pub fn started_pids(&self) -> Vec<u32> {
        self.started.lock().unwrap().clone()
    }

    fn note_started(&self, pid: u32) {
        self.started.lock().unwrap().push(pid);
    }

    /// The running pod `ns/name`, if this node runs it.
    pub fn pod(&self, ns: &str, name: &str) -> Option<Arc<PodRt>> {
        self.pods
            .lock()
            .unwrap()
            .values()
            .find(|p| p.ns == ns && p.name == name)
            .cloned()
    }

    /// Records an event about a pod (or one of its containers), counting
    /// repeats as the kubelet's event recorder does.
    pub fn event(
        &self,
        pod: &PodRt,
        field: Option<&str>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        record_event(
            &self.store,
            &self.node,
            ObjectReference {
                kind: Some("Pod".into()),
                api_version: Some("v1".into()),
                namespace: Some(pod.ns.clone()),
                name: Some(pod.name.clone()),
                uid: Some(pod.uid.clone()),
                field_path: field.map(String::from),
                ..Default::default()
            },
            warning,
            reason,
            message,
        );
    }

    /// Starts a pod the store just accepted: scheduling, sandbox, containers.
    pub fn run_pod(self: &Arc<Self>, pod: Pod) -> Result<(), ApiError> {
        let meta = &pod.metadata;
        let (ns, name, uid) = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
            meta.uid.clone().unwrap_or_default(),
        );
        let spec = pod.spec.clone().unwrap_or_default();
        let qos = qos_class(&pod);
        let pod_cg = {
            let tree = self.tree.lock().unwrap();
            let tree = tree.as_ref().ok_or_else(|| {
                ApiError::new(503, "ServiceUnavailable", "the node is shutting down")
            })?;
            let parent = match qos {
                "Guaranteed" => &tree.kubepods,
                "Burstable" => &tree.burstable,
                _ => &tree.besteffort,
            };
            parent
                .create_child(&format!("pod{uid}"), None)
                .map_err(cg_err)?
        };
        // The sandbox ("pause"): holds the pod's network and UTS namespaces.
        let sandbox_cg = pod_cg.create_child(&container_id(), None).map_err(cg_err)?;
        let mut cmd = tokio::process::Command::new("sleep");
        cmd.arg("infinity")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(sandbox_cg.path().join("cgroup.procs"))
            .map_err(io_err("sandbox cgroup"))?;
        let shim = launch::spawn(
            cmd,
            Setup {
                new: CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC,
                cgroup: Some(procs),
                loopback_up: true,
                hostname: Some(name.clone()),
                ..Default::default()
            },
        )
        .map_err(io_err("start the pod sandbox"))?;
        let spid = shim
            .id()
            .and_then(launch::program_pid)
            .ok_or_else(|| ApiError::new(500, "InternalError", "the pod sandbox exited at once"))?;
        self.note_started(spid);
        let netns = launch::open_ns(spid, "net").map_err(io_err("sandbox netns"))?;
        let utsns = launch::open_ns(spid, "uts").map_err(io_err("sandbox utsns"))?;
        let ip = format!(
            "10.244.0.{}",
            self.next_ip.fetch_add(1, Ordering::Relaxed) % 250 + 2
        );
        let rt = Arc::new(PodRt {
            ns: ns.clone(),
            name: name.clone(),
            uid: uid.clone(),
            ip,
            cgroup: Mutex::new(Some(pod_cg)),
            sandbox: Mutex::new(Some((shim, sandbox_cg))),
            netns,
            utsns,
            running: Mutex::default(),
            statuses: Mutex::default(),
            ephemeral: Mutex::default(),
            stop: watch::channel(false).0,
            tasks: Mutex::default(),
            order: spec.containers.iter().map(|c| c.name.clone()).collect(),
            restart_policy: spec
                .restart_policy
                .clone()
                .unwrap_or_else(|| "Always".into()),
        });
        self.pods.lock().unwrap().insert(uid.clone(), rt.clone());
        let _ = self.store.update_typed::<Pod>(&PODS, &ns, &name, |p| {
            let spec = p.spec.get_or_insert_with(Default::default);
            spec.node_name = Some(self.node.clone());
        });
        record_event(
            &self.store,
            "",
            ObjectReference {
                kind: Some("Pod".into()),
                api_version: Some("v1".into()),
                namespace: Some(ns.clone()),
                name: Some(name.clone()),
                uid: Some(uid.clone()),
                ..Default::default()
            },
            false,
            "Scheduled",
            &format!("Successfully assigned {ns}/{name} to {}", self.node),
        );
        for c in &spec.containers {
            rt.statuses.lock().unwrap().insert(
                c.name.clone(),
                ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    image_id: String::new(),
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("ContainerCreating".into()),
                            message: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
        }
        self.write_status(&rt, qos);
        let distroless: Vec<String> = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(DISTROLESS_ANNOTATION))
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        for c in spec.containers {
            let own_root = distroless.contains(&c.name);
            let task = tokio::spawn(self.clone().container_loop(rt.clone(), c, own_root, qos));
            rt.tasks.lock().unwrap().push(task);
        }
        Ok(())
    }

    /// Runs one container until the pod stops, restarting it as its pod's
    /// restartPolicy says, with the kubelet's back-off.
    async fn container_loop(
        self: Arc<Self>,
        pod: Arc<PodRt>,
        spec: Container,
        own_root: bool,
        qos: &'static str,
    ) {
        let field = format!("spec.containers{{{}}}", spec.name);
        let mut stop = pod.stop.subscribe();
        let mut crashes = 0u32;
        let mut restarts = 0i32;
        let mut last: Option<ContainerStateTerminated> = None;
        loop {
            let started = Instant::now();
            let outcome = self
                .run_once(
                    &pod,
                    &spec,
                    &field,
                    own_root,
                    restarts,
                    last.clone(),
                    qos,
                    &mut stop,
                )
                .await;
            let Some(term) = outcome else { return };
            let failed = term.exit_code != 0;
            let restart = match pod.restart_policy.as_str() {
                "Never" => false,
                "OnFailure" => failed,
                _ => true,
            };
            if !restart {
                self.set_state(&pod, &spec.name, |s| {
                    s.state = Some(ContainerState {
                        terminated: Some(term.clone()),
                        ..Default::default()
                    });
                    s.ready = false;
                    s.started = Some(false);
                });
                self.write_status(&pod, qos);
                return;
            }
            // The first restart is at once, later ones back off (doubling),
            // and a container that ran for a while starts over.
            if started.elapsed() > self.back_off * 60 {
                crashes = 0;
            }
            crashes += 1;
            let delay = if crashes == 1 {
                Duration::ZERO
            } else {
                (self.back_off * 2u32.saturating_pow(crashes - 2)).min(self.back_off * 30)
            };
            if !delay.is_zero() {
                let msg = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    super::table::human_duration(delay.as_secs() as i64),
                    spec.name,
                    pod.name,
                    pod.ns,
                    pod.uid
                );
                self.set_state(&pod, &spec.name, |s| {
                    s.state = Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("CrashLoopBackOff".into()),
                            message: Some(msg.clone()),
                        }),
                        ..Default::default()
                    });
                    s.last_state = Some(ContainerState {
                        terminated: Some(term.clone()),
                        ..Default::default()
                    });
                    s.ready = false;
                    s.started = Some(false);
                });
                self.write_status(&pod, qos);
                self.event(
                    &pod,
                    Some(&field),
                    true,
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {} in pod {}_{}({})",
                        spec.name, pod.name, pod.ns, pod.uid
                    ),
                );
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopping(&mut stop) => return,
                }
            }
            restarts += 1;
            last = Some(term);
        }
    }

    /// Starts the container once and waits for it to end. None when the pod
    /// was stopped (the container was killed for it).
    #[allow(clippy::too_many_arguments)]
    async fn run_once(
        &self,
        pod: &PodRt,
        spec: &Container,
        field: &str,
        own_root: bool,
        restarts: i32,
        last: Option<ContainerStateTerminated>,
        qos: &'static str,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<ContainerStateTerminated> {
        let id = container_id();
        let image = spec.image.clone().unwrap_or_default();
        let started_at = time_now();
        let fail = |reason: &str, message: String| ContainerStateTerminated {
            exit_code: 128,
            reason: Some(reason.into()),
            message: Some(message),
            started_at: Some(started_at.clone()),
            finished_at: Some(time_now()),
            container_id: Some(format!("containerd://{id}")),
            ..Default::default()
        };
        let limit = spec
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory"))
            .map(|q| quantity_bytes(&q.0).ok_or(q.0.clone()));
        let limit = match limit.transpose() {
            Ok(l) => l,
            Err(q) => {
                let t = fail(
                    "StartError",
                    format!("memory limit {q:?} is not a quantity"),
                );
                self.event(
                    pod,
                    Some(field),
                    true,
                    "Failed",
                    t.message.as_deref().unwrap_or(""),
                );
                return unless_stopped(t, stop);
            }
        };
        let made = pod
            .cgroup
            .lock()
            .unwrap()
            .as_ref()
            .map(|p| p.create_child(&id, limit));
        let cg = match made {
            Some(Ok(cg)) => cg,
            Some(Err(e)) => return unless_stopped(fail("StartError", e.to_string()), stop),
            None => return None,
        };
        self.event(
            pod,
            Some(field),
            false,
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
        );
        self.event(
            pod,
            Some(field),
            false,
            "Created",
            &format!("Created container: {}", spec.name),
        );
        let log = self.log_path(pod, &spec.name, restarts);
        let started = self.start_container(pod, spec, &cg, &log, own_root, &id);
        let (mut shim, pid, env) = match started {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("Error: failed to start container \"{}\": {e}", spec.name);
                self.event(pod, Some(field), true, "Failed", &msg);
                drop(cg);
                return unless_stopped(fail("StartError", msg), stop);
            }
        };
        self.note_started(pid);
        pod.running.lock().unwrap().insert(
            spec.name.clone(),
            Running {
                pid,
                cgroup: cg.path().to_path_buf(),
                env,
            },
        );
        self.set_state(pod, &spec.name, |s| {
            s.container_id = Some(format!("containerd://{id}"));
            s.image_id = format!("docker.io/library/{image}@sha256:{}", &id[..64]);
            s.restart_count = restarts;
            s.state = Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(started_at.clone()),
                }),
                ..Default::default()
            });
            s.last_state = last.clone().map(|t| ContainerState {
                terminated: Some(t),
                ..Default::default()
            });
            s.ready = true;
            s.started = Some(true);
        });
        self.write_status(pod, qos);
        self.event(
            pod,
            Some(field),
            false,
            "Started",
            &format!("Started container {}", spec.name),
        );
        let (status, stopped) = tokio::select! {
            st = shim.wait() => (st.ok(), false),
            _ = stopping(stop) => {
                self.event(pod, Some(field), false, "Killing", &format!("Stopping container {}", spec.name));
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                let st = match tokio::time::timeout(STOP_GRACE, shim.wait()).await {
                    Ok(st) => st.ok(),
                    Err(_) => {
                        let _ = cg.kill_all(Duration::from_secs(10));
                        shim.wait().await.ok()
                    }
                };
                (st, true)
            }
        };
        pod.running.lock().unwrap().remove(&spec.name);
        let oom = cg.oom_kills().unwrap_or(0) > 0;
        drop(cg);
        if stopped {
            return None;
        }
        let (code, signal) = match status {
            Some(st) => (
                std::os::unix::process::ExitStatusExt::signal(&st)
                    .map(|s| 128 + s)
                    .or(st.code())
                    .unwrap_or(128),
                std::os::unix::process::ExitStatusExt::signal(&st),
            ),
            None => (128, None),
        };
        let reason = if oom && signal == Some(9) {
            "OOMKilled"
        } else if code == 0 {
            "Completed"
        } else {
            "Error"
        };
        if reason == "OOMKilled" {
            record_event(
                &self.store,
                &self.node,
                ObjectReference {
                    kind: Some("Node".into()),
                    name: Some(self.node.clone()),
                    uid: Some(self.node.clone()),
                    ..Default::default()
                },
                true,
                "SystemOOM",
                &format!(
                    "System OOM encountered, victim process: {}, pid: {pid}",
                    spec.command
                        .as_ref()
                        .and_then(|c| c.first())
                        .map_or("", |c| c.rsplit('/').next().unwrap_or(c))
                ),
            );
        }
        Some(ContainerStateTerminated {
            exit_code: code,
            signal: None,
            reason: Some(reason.into()),
            message: None,
            started_at: Some(started_at),
            finished_at: Some(time_now()),
            container_id: Some(format!("containerd://{id}")),
        })
    }

    /// `/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log`, as a kubelet lays logs out.
    fn log_path(&self, pod: &PodRt, container: &str, restart: i32) -> PathBuf {
        self.dir
            .join("pods")
            .join(format!("{}_{}_{}", pod.ns, pod.name, pod.uid))
            .join(container)
            .join(format!("{restart}.log"))
    }

    /// The log of a container's current (or, with `previous`, last) run.
    pub fn log(
        &self,
        ns: &str,
        name: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<Vec<u8>, ApiError> {
        let pod = self
            .pod(ns, name)
            .ok_or_else(|| ApiError::not_found(&PODS, name))?;
        let c = match container {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => pod.order.first().cloned().unwrap_or_default(),
        };
        let restarts = pod
            .statuses
            .lock()
            .unwrap()
            .get(&c)
            .map(|s| s.restart_count)
            .ok_or_else(|| {
                ApiError::bad_request(format!("container {c} is not valid for pod {name}"))
            })?;
        let n = if previous { restarts - 1 } else { restarts };
        if n < 0 {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{c}\" in pod \"{name}\" not found"
            )));
        }
        Ok(std::fs::read(self.log_path(&pod, &c, n)).unwrap_or_default())
    }

    /// Forks the container's program into its namespaces and cgroup.
    fn start_container(
        &self,
        pod: &PodRt,
        spec: &Container,
        cg: &MemoryCgroup,
        log: &Path,
        own_root: bool,
        id: &str,
    ) -> Result<Started, String> {
        let argv: Vec<String> = spec
            .command
            .iter()
            .flatten()
            .chain(spec.args.iter().flatten())
            .cloned()
            .collect();
        let Some(program) = argv.first() else {
            return Err("no command: the test cluster does not pull images, so every container needs `command`".into());
        };
        let env = self.container_env(pod, spec.env.as_deref().unwrap_or_default())?;
        let root = if own_root {
            Some(
                self.make_rootfs(program, id)
                    .map_err(|e| format!("rootfs: {e}"))?,
            )
        } else {
            None
        };
        if let Some(p) = log.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let out = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(cg.path().join("cgroup.procs"))
            .map_err(|e| e.to_string())?;
        let setup = Setup {
            join: vec![
                (
                    pod.netns.try_clone().map_err(|e| e.to_string())?,
                    CloneFlags::CLONE_NEWNET,
                ),
                (
                    pod.utsns.try_clone().map_err(|e| e.to_string())?,
                    CloneFlags::CLONE_NEWUTS,
                ),
            ],
            new: CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC,
            cgroup: Some(procs),
            root,
            mount_proc: true,
            cwd: spec.working_dir.clone().map(PathBuf::from),
            ..Default::default()
        };
        let shim = launch::spawn(cmd, setup).map_err(|e| format!("exec: {program:?}: {e}"))?;
        let pid = shim
            .id()
            .and_then(launch::program_pid)
            .ok_or_else(|| "the container exited at once".to_string());
        match pid {
            Ok(pid) => Ok((shim, pid, env)),
            // It ran and ended before we looked: still a start; report its exit.
            Err(_) => Ok((shim, 0, env)),
        }
    }

    /// A root filesystem holding only `program` (at the same path), `/proc`,
    /// `/tmp` and `/dev`: what a distroless image with one static binary is.
    fn make_rootfs(&self, program: &str, id: &str) -> std::io::Result<PathBuf> {
        let root = self.dir.join("rootfs").join(id);
        for d in ["proc", "tmp", "dev"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        let rel = program.trim_start_matches('/');
        if rel == program {
            return Err(std::io::Error::other(format!(
                "{program:?}: a distroless container's command must be an absolute path"
            )));
        }
        let dst = root.join(rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(program, &dst)?;
        Ok(root)
    }

    /// The container's environment: PATH and HOSTNAME as a runtime sets
    /// them, then the manifest's `env` (values and the common `fieldRef`s).
    fn container_env(&self, pod: &PodRt, env: &[EnvVar]) -> Result<Vec<(String, String)>, String> {
        let mut out = vec![
            ("PATH".to_string(), DEFAULT_PATH.to_string()),
            ("HOSTNAME".to_string(), pod.name.clone()),
        ];
        for e in env {
            let v = if let Some(v) = &e.value {
                v.clone()
            } else if let Some(f) = e.value_from.as_ref().and_then(|f| f.field_ref.as_ref()) {
                match f.field_path.as_str() {
                    "metadata.name" => pod.name.clone(),
                    "metadata.namespace" => pod.ns.clone(),
                    "metadata.uid" => pod.uid.clone(),
                    "spec.nodeName" => self.node.clone(),
                    "status.podIP" => pod.ip.clone(),
                    other => {
                        return Err(format!(
                            "env {}: fieldRef {other} is not served by the test cluster",
                            e.name
                        ))
                    }
                }
            } else if e.value_from.is_some() {
                return Err(format!(
                    "env {}: only value and fieldRef are served by the test cluster",
                    e.name
                ));
            } else {
                String::new()
            };
            out.retain(|(k, _)| *k != e.name);
            out.push((e.name.clone(), v));
        }
        Ok(out)
    }

    fn set_state(&self, pod: &PodRt, name: &str, f: impl FnOnce(&mut ContainerStatus)) {
        if let Some(s) = pod.statuses.lock().unwrap().get_mut(name) {
            f(s);
        } else if let Some(s) = pod.ephemeral.lock().unwrap().get_mut(name) {
            f(s);
        }
    }

    /// Writes the pod's status from its containers' (phase, conditions, statuses).
    fn write_status(&self, pod: &PodRt, qos: &str) {
        let statuses = pod.statuses.lock().unwrap().clone();
        let ephemeral: Vec<ContainerStatus> =
            pod.ephemeral.lock().unwrap().values().cloned().collect();
        let ordered: Vec<ContainerStatus> = pod
            .order
            .iter()
            .filter_map(|n| statuses.get(n).cloned())
            .collect();
        let is =
            |s: &ContainerStatus, f: fn(&ContainerState) -> bool| s.state.as_ref().is_some_and(f);
        let all_ready = !ordered.is_empty() && ordered.iter().all(|s| s.ready);
        let all_done =
            !ordered.is_empty() && ordered.iter().all(|s| is(s, |st| st.terminated.is_some()));
        let any_started = ordered
            .iter()
            .any(|s| s.container_id.is_some() || s.last_state.is_some());
        let phase = if all_done {
            if ordered.iter().all(|s| {
                s.state
                    .as_ref()
                    .and_then(|st| st.terminated.as_ref())
                    .is_some_and(|t| t.exit_code == 0)
            }) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else if any_started {
            "Running"
        } else {
            "Pending"
        };
        let cond = |t: &str, ok: bool| PodCondition {
            type_: t.into(),
            status: if ok { "True" } else { "False" }.into(),
            last_transition_time: Some(time_now()),
            ..Default::default()
        };
        let node = self.node.clone();
        let ip = pod.ip.clone();
        let qos = qos.to_string();
        let _ = self
            .store
            .update_typed::<Pod>(&PODS, &pod.ns, &pod.name, move |p| {
                let old = p.status.take().unwrap_or_default();
                // Keep each condition's transition time while its status holds.
                let conditions = [
                    cond("PodReadyToStartContainers", true),
                    cond("Initialized", true),
                    cond("Ready", all_ready),
                    cond("ContainersReady", all_ready),
                    cond("PodScheduled", true),
                ]
                .into_iter()
                .map(|mut c| {
                    if let Some(o) = old
                        .conditions
                        .iter()
                        .flatten()
                        .find(|o| o.type_ == c.type_ && o.status == c.status)
                    {
                        c.last_transition_time = o.last_transition_time.clone();
                    }
                    c
                })
                .collect();
                p.status = Some(PodStatus {
                    phase: Some(phase.into()),
                    conditions: Some(conditions),
                    host_ip: Some("127.0.0.1".into()),
                    host_ips: None,
                    pod_ip: Some(ip.clone()),
                    pod_ips: None,
                    start_time: old.start_time.or_else(|| Some(time_now())),
                    container_statuses: Some(ordered),
                    ephemeral_container_statuses: (!ephemeral.is_empty()).then_some(ephemeral),
                    qos_class: Some(qos),
                    ..Default::default()
                });
                let _ = &node;
            });
    }

    /// The container's current run, for exec and metrics.
    pub fn running(&self, ns: &str, name: &str, container: &str) -> Option<Running> {
        self.pod(ns, name)?
            .running
            .lock()
            .unwrap()
            .get(container)
            .cloned()
    }

    /// Every running container of a pod, in spec order.
    pub fn running_all(&self, ns: &str, name: &str) -> Vec<(String, Running)> {
        let Some(pod) = self.pod(ns, name) else {
            return Vec::new();
        };
        let running = pod.running.lock().unwrap();
        pod.order
            .iter()
            .filter_map(|n| running.get(n).map(|r| (n.clone(), r.clone())))
            .collect()
    }

    /// The pod's network namespace, to reach its 127.0.0.1.
    pub fn netns(&self, ns: &str, name: &str) -> Option<OwnedFd> {
        self.pod(ns, name)?.netns.try_clone().ok()
    }

    /// A command run inside a running container: its PID, mount and network
    /// namespaces, its cgroup and its environment (kubectl exec).
    pub fn exec_setup(
        &self,
        ns: &str,
        name: &str,
        container: &str,
    ) -> Result<(Setup, Vec<(String, String)>), ApiError> {
        let pod = self
            .pod(ns, name)
            .ok_or_else(|| ApiError::not_found(&PODS, name))?;
        let known = pod.statuses.lock().unwrap().contains_key(container)
            || pod.ephemeral.lock().unwrap().contains_key(container);
        if !known {
            return Err(ApiError::bad_request(format!(
                "container {container} is not valid for pod {name}"
            )));
        }
        let run = pod
            .running
            .lock()
            .unwrap()
            .get(container)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "container {container} is not running in pod {name}"
                ))
            })?;
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(run.cgroup.join("cgroup.procs"))
            .map_err(io_err("container cgroup"))?;
        let setup = Setup {
            join: vec![
                (
                    pod.netns.try_clone().map_err(io_err("netns"))?,
                    CloneFlags::CLONE_NEWNET,
                ),
                (
                    pod.utsns.try_clone().map_err(io_err("utsns"))?,
                    CloneFlags::CLONE_NEWUTS,
                ),
                (
                    launch::open_ns(run.pid, "ipc").map_err(io_err("ipcns"))?,
                    CloneFlags::CLONE_NEWIPC,
                ),
                (
                    launch::open_ns(run.pid, "pid").map_err(io_err("pidns"))?,
                    CloneFlags::CLONE_NEWPID,
                ),
                (
                    launch::open_ns(run.pid, "mnt").map_err(io_err("mntns"))?,
                    CloneFlags::CLONE_NEWNS,
                ),
            ],
            cgroup: Some(procs),
            ..Default::default()
        };
        Ok((setup, run.env))
    }

    /// Counts an exec'd command among [`Kubelet::started_pids`], by the
    /// program its shim runs.
    pub fn note_exec(&self, shim: &tokio::process::Child) {
        if let Some(pid) = shim.id().and_then(launch::program_pid) {
            self.note_started(pid);
        }
    }

    /// Starts the ephemeral containers a PATCH added: each joins the pod's
    /// network and its target's PID namespace but keeps the host's root (as
    /// a debug image would be a root of its own), with a fresh `/proc`.
    pub fn add_ephemeral(self: &Arc<Self>, ns: &str, name: &str, pod: &Pod) {
        let Some(rt) = self.pod(ns, name) else { return };
        for ec in pod
            .spec
            .iter()
            .flat_map(|s| s.ephemeral_containers.iter().flatten())
        {
            if rt.ephemeral.lock().unwrap().contains_key(&ec.name) {
                continue;
            }
            rt.ephemeral.lock().unwrap().insert(
                ec.name.clone(),
                ContainerStatus {
                    name: ec.name.clone(),
                    image: ec.image.clone().unwrap_or_default(),
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some("ContainerCreating".into()),
                            message: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
            let spec = Container {
                name: ec.name.clone(),
                image: ec.image.clone(),
                command: ec.command.clone(),
                args: ec.args.clone(),
                env: ec.env.clone(),
                working_dir: ec.working_dir.clone(),
                ..Default::default()
            };
            let target = ec.target_container_name.clone();
            let me = self.clone();
            let rt2 = rt.clone();
            let qos = qos_class(pod);
            let task = tokio::spawn(async move { me.run_ephemeral(rt2, spec, target, qos).await });
            rt.tasks.lock().unwrap().push(task);
        }
    }

    async fn run_ephemeral(
        self: Arc<Self>,
        pod: Arc<PodRt>,
        spec: Container,
        target: Option<String>,
        qos: &'static str,
    ) {
        let field = format!("spec.ephemeralContainers{{{}}}", spec.name);
        let mut stop = pod.stop.subscribe();
        let id = container_id();
        let result = (|| -> Result<_, String> {
            let cg = pod
                .cgroup
                .lock()
                .unwrap()
                .as_ref()
                .ok_or("the pod is stopping")?
                .create_child(&id, None)
                .map_err(|e| e.to_string())?;
            let argv: Vec<String> = spec
                .command
                .iter()
                .flatten()
                .chain(spec.args.iter().flatten())
                .cloned()
                .collect();
            let program = argv
                .first()
                .ok_or("no command: the test cluster does not pull images")?;
            let env = self.container_env(&pod, spec.env.as_deref().unwrap_or_default())?;
            let log = self.log_path(&pod, &spec.name, 0);
            std::fs::create_dir_all(log.parent().expect("a dir")).map_err(|e| e.to_string())?;
            let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(&argv[1..])
                .env_clear()
                .envs(env.clone())
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let mut join = vec![
                (
                    pod.netns.try_clone().map_err(|e| e.to_string())?,
                    CloneFlags::CLONE_NEWNET,
                ),
                (
                    pod.utsns.try_clone().map_err(|e| e.to_string())?,
                    CloneFlags::CLONE_NEWUTS,
                ),
            ];
            let mut new = CloneFlags::CLONE_NEWNS;
            match target
                .as_ref()
                .map(|t| pod.running.lock().unwrap().get(t).cloned())
            {
                Some(Some(t)) => join.push((
                    launch::open_ns(t.pid, "pid").map_err(|e| e.to_string())?,
                    CloneFlags::CLONE_NEWPID,
                )),
                Some(None) => {
                    return Err(format!(
                        "target container {:?} is not running",
                        target.as_deref().unwrap_or("")
                    ))
                }
                None => new |= CloneFlags::CLONE_NEWPID,
            }
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(cg.path().join("cgroup.procs"))
                .map_err(|e| e.to_string())?;
            let shim = launch::spawn(
                cmd,
                Setup {
                    join,
                    new,
                    cgroup: Some(procs),
                    mount_proc: true,
                    ..Default::default()
                },
            )
            .map_err(|e| format!("exec: {program:?}: {e}"))?;
            let pid = shim.id().and_then(launch::program_pid).unwrap_or(0);
            Ok((cg, shim, pid, env))
        })();
        let started_at = time_now();
        let (cg, mut shim, pid, env) = match result {
            Ok(x) => x,
            Err(e) => {
                self.event(&pod, Some(&field), true, "Failed", &format!("Error: {e}"));
                self.set_state(&pod, &spec.name, |s| {
                    s.state = Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: 128,
                            reason: Some("StartError".into()),
                            message: Some(e.clone()),
                            finished_at: Some(time_now()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                });
                self.write_status(&pod, qos);
                return;
            }
        };
        self.note_started(pid);
        pod.running.lock().unwrap().insert(
            spec.name.clone(),
            Running {
                pid,
                cgroup: cg.path().to_path_buf(),
                env,
            },
        );
        self.event(
            &pod,
            Some(&field),
            false,
            "Created",
            &format!("Created container: {}", spec.name),
        );
        self.set_state(&pod, &spec.name, |s| {
            s.container_id = Some(format!("containerd://{id}"));
            s.state = Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(started_at.clone()),
                }),
                ..Default::default()
            });
            s.started = Some(true);
        });
        self.write_status(&pod, qos);
        self.event(
            &pod,
            Some(&field),
            false,
            "Started",
            &format!("Started container {}", spec.name),
        );
        let status = tokio::select! {
            st = shim.wait() => st.ok(),
            _ = stopping(&mut stop) => {
                let _ = cg.kill_all(Duration::from_secs(10));
                let _ = shim.wait().await;
                pod.running.lock().unwrap().remove(&spec.name);
                return;
            }
        };
        pod.running.lock().unwrap().remove(&spec.name);
        drop(cg);
        let code = status
            .and_then(|s| {
                s.code()
                    .or(std::os::unix::process::ExitStatusExt::signal(&s).map(|x| 128 + x))
            })
            .unwrap_or(128);
        self.set_state(&pod, &spec.name, |s| {
            s.state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                    started_at: Some(started_at),
                    finished_at: Some(time_now()),
                    container_id: Some(format!("containerd://{id}")),
                    ..Default::default()
                }),
                ..Default::default()
            });
        });
        self.write_status(&pod, qos);
    }

    /// Stops a pod: its containers get SIGTERM (then SIGKILL), then the
    /// sandbox and the pod's cgroups go.
    pub async fn stop_pod(&self, uid: &str) {
        let Some(pod) = self.pods.lock().unwrap().remove(uid) else {
            return;
        };
        let _ = pod.stop.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *pod.tasks.lock().unwrap());
        for t in tasks {
            let _ = t.await;
        }
        let sandbox = pod.sandbox.lock().unwrap().take();
        if let Some((mut shim, cg)) = sandbox {
            let _ = cg.kill_all(Duration::from_secs(10));
            let _ = shim.wait().await;
            drop(cg);
        }
        drop(pod.cgroup.lock().unwrap().take());
    }

    /// Stops every pod, then removes the cluster's cgroups.
    pub async fn shutdown(&self) {
        let uids: Vec<String> = self.pods.lock().unwrap().keys().cloned().collect();
        // All at once: each may wait out its grace period.
        futures_util::future::join_all(uids.iter().map(|uid| self.stop_pod(uid))).await;
        drop(self.tree.lock().unwrap().take());
        let _ = std::fs::remove_dir_all(self.dir.join("rootfs"));
    }

    /// PodMetrics for one pod, from its containers' cgroups (working set =
    /// usage minus inactive file pages, as cAdvisor and metrics-server count it).
    pub fn pod_metrics(&self, pod: &Value) -> Value {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let containers: Vec<Value> = self
            .running_all(ns, name)
            .into_iter()
            .map(|(c, run)| {
                let (mem, cpu) = usage(&run);
                json!({"name": c, "usage": {"cpu": format!("{cpu}n"), "memory": format!("{}Ki", mem / 1024)}})
            })
            .collect();
        json!({
            "kind": "PodMetrics",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": pod["metadata"]["labels"],
                "creationTimestamp": now(),
            },
            "timestamp": now(),
            "window": "10s",
            "containers": containers,
        })
    }
}

/// A start that failed still counts as an exit, unless the pod is stopping.
fn unless_stopped(
    t: ContainerStateTerminated,
    stop: &watch::Receiver<bool>,
) -> Option<ContainerStateTerminated> {
    let stopping = *stop.borrow();
    (!stopping).then_some(t)
}

/// Resolves once the pod is told to stop.
async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// (working set bytes, CPU in nanocores averaged since the start) of a container.
fn usage(run: &Running) -> (u64, u64) {
    let Ok(cg) = MemoryCgroup::open(&run.cgroup) else {
        return (0, 0);
    };
    let used = cg.usage().unwrap_or(0);
    let inactive = cg
        .stat()
        .ok()
        .and_then(|s| {
            s.get("total_inactive_file")
                .or(s.get("inactive_file"))
                .copied()
        })
        .unwrap_or(0);
    let tick = 100u64; // USER_HZ on Linux
    let mut cpu_ns = 0u64;
    for pid in cg.pids().unwrap_or_default() {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let f: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let t: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
            cpu_ns += t * 1_000_000_000 / tick;
        }
    }
    let age = std::fs::metadata(&run.cgroup)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(1, |d| d.as_nanos().max(1) as u64);
    (
        used.saturating_sub(inactive),
        (cpu_ns as u128 * 1_000_000_000 / age as u128) as u64,
    )
}

/// Records (or counts again) an event about `object`.
pub fn record_event(
    store: &Store,
    host: &str,
    object: ObjectReference,
    warning: bool,
    reason: &str,
    message: &str,
) {
    let ns = object.namespace.clone().unwrap_or_else(|| "default".into());
    let (_, existing) = store.list(&EVENTS, Some(&ns));
    let same = existing.iter().find(|e| {
        e["reason"] == json!(reason)
            && e["message"] == json!(message)
            && e["involvedObject"]["uid"] == json!(object.uid)
            && e["involvedObject"]["fieldPath"] == json!(object.field_path)
    });
    if let Some(e) = same {
        let name = e["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let _ = store.update(&EVENTS, &ns, &name, |e| {
            e["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
            e["lastTimestamp"] = json!(now());
            Ok(())
        });
        return;
    }
    let t = time_now();
    let name = format!(
        "{}.{:x}",
        object.name.as_deref().unwrap_or("object"),
        jiff::Timestamp::now().as_nanosecond() as u64
    );
    let ev = Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: object,
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        count: Some(1),
        first_timestamp: Some(t.clone()),
        last_timestamp: Some(t),
        source: Some(EventSource {
            component: Some(
                if host.is_empty() {
                    "default-scheduler"
                } else {
                    "kubelet"
                }
                .into(),
            ),
            host: (!host.is_empty()).then(|| host.to_string()),
        }),
        reporting_component: Some(
            if host.is_empty() {
                "default-scheduler"
            } else {
                "kubelet"
            }
            .into(),
        ),
        reporting_instance: Some(host.into()),
        ..Default::default()
    };
    let _ = store.create_typed(&EVENTS, &ns, &ev);
}
