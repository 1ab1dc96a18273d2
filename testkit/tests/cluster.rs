//! The test cluster against real clients: kube-rs (the product's client)
//! and the machine's real kubectl, with real processes behind every pod.
//! Each test ends by dropping its cluster and proving that no process and
//! no cgroup of it is left.

use std::path::Path;
use std::process::Command;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{AttachParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Config};
use serde_json::json;
use testkit::cluster::{running, TestCluster, DISTROLESS_ANNOTATION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn client(cluster: &TestCluster) -> Client {
    let kc = Kubeconfig::read_from(cluster.kubeconfig()).expect("the kubeconfig reads");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("a kube config");
    Client::try_from(config).expect("a kube client")
}

/// Drops the cluster and asserts that every process it started is gone and
/// its cgroup tree removed.
fn assert_clean(cluster: TestCluster) {
    let pids = cluster.started_pids();
    let root = cluster.cgroup_root();
    assert!(!pids.is_empty(), "the cluster started no process");
    assert!(root.exists());
    drop(cluster);
    let alive: Vec<u32> = pids
        .into_iter()
        .filter(|p| *p != 0 && testkit::process_alive(*p))
        .collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
    assert!(!root.exists(), "cgroup left behind: {}", root.display());
}

fn sleeper(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: sleeper}}\nspec:\n  containers:\n  - name: app\n    image: example/sleeper:1\n    command: [\"/bin/sleep\", \"infinity\"]\n    resources: {{limits: {{memory: 32Mi}}}}\n"
    )
}

/// A pod running the Go sample app `steady` on the pod's 127.0.0.1:6060.
fn go_pod(name: &str, binary: &Path, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  containers:\n  - name: app\n    image: example/steady:1\n    command: [\"{}\"]\n    env: [{{name: LISTEN, value: \"127.0.0.1:6060\"}}]\n    ports: [{{containerPort: 6060, name: http}}]\n    resources: {{limits: {{memory: 128Mi}}}}\n",
        binary.display()
    )
}

fn wait_listening(cluster: &TestCluster, name: &str) {
    cluster
        .wait_for_log("default", name, "app", "listening on")
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_lists_pages_gets_and_watches_pods() {
    let docs = [sleeper("a"), sleeper("b"), sleeper("c")].join("---\n");
    let cluster = TestCluster::start(&[&docs]).unwrap();
    for n in ["a", "b", "c"] {
        cluster
            .wait_for_pod("default", n, "running", running)
            .unwrap();
    }
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    cluster.clear_requests();
    let first = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(second
        .metadata
        .continue_
        .as_deref()
        .unwrap_or("")
        .is_empty());
    assert_eq!(cluster.request_count("/api/v1/namespaces/default/pods"), 2);

    // Cluster-wide: one list.
    let all: Api<Pod> = Api::all(client.clone());
    cluster.clear_requests();
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    assert_eq!(cluster.request_count("/api/v1/pods"), 1);

    let a = pods.get("a").await.unwrap();
    let st = a.status.unwrap();
    assert_eq!(st.phase.as_deref(), Some("Running"));
    let cs = &st.container_statuses.unwrap()[0];
    assert!(cs
        .container_id
        .as_deref()
        .unwrap()
        .starts_with("containerd://"));
    // The container's cgroup is laid out as the kubelet's (cgroupfs driver).
    let cg = cluster.container_cgroup("default", "a", "app").unwrap();
    let id = cs
        .container_id
        .as_deref()
        .unwrap()
        .trim_start_matches("containerd://");
    let uid = a.metadata.uid.unwrap();
    assert!(
        cg.ends_with(format!("kubepods/burstable/pod{uid}/{id}")),
        "{}",
        cg.display()
    );
    let limit = std::fs::read_to_string(cg.join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (32u64 << 20).to_string());

    // Watch: the current pods, then one created while watching.
    let stream = watcher(pods.clone(), watcher::Config::default()).applied_objects();
    let mut stream = Box::pin(stream);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let p = stream.try_next().await.unwrap().unwrap();
        seen.push(p.metadata.name.unwrap());
    }
    let d: Pod = serde_yaml::from_str(&sleeper("d")).unwrap();
    pods.create(&PostParams::default(), &d).await.unwrap();
    loop {
        let p = stream.try_next().await.unwrap().unwrap();
        if p.metadata.name.as_deref() == Some("d") {
            break;
        }
    }
    cluster
        .wait_for_pod("default", "d", "running", running)
        .unwrap();
    let metrics = client
        .request_text(
            http::Request::get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/a")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let m: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    assert_eq!(m["containers"][0]["name"], json!("app"));
    assert!(m["containers"][0]["usage"]["memory"]
        .as_str()
        .unwrap()
        .ends_with("Ki"));
    drop(stream);
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_containers_namespaces_with_exit_codes() {
    let cluster = TestCluster::start(&[&sleeper("box")]).unwrap();
    cluster
        .wait_for_pod("default", "box", "running", running)
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    let ap = AttachParams::default()
        .container("app")
        .stdout(true)
        .stderr(true);

    let mut p = pods
        .exec(
            "box",
            [
                "sh",
                "-c",
                "cat /proc/1/cmdline; echo; hostname; echo oops >&2; exit 3",
            ],
            &ap,
        )
        .await
        .unwrap();
    let status = p.take_status().unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    p.stderr().unwrap().read_to_string(&mut err).await.unwrap();
    let status = status.await.unwrap();
    p.join().await.unwrap();
    // PID 1 in the container's own PID namespace is the app, and the
    // hostname is the pod's.
    assert_eq!(out, "/bin/sleep\0infinity\0\nbox\n");
    assert_eq!(err, "oops\n");
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let causes = status.details.unwrap().causes.unwrap();
    assert_eq!(causes[0].message.as_deref(), Some("3"));

    // stdin, closed by the client (v5 close channel), reaches the command.
    let mut p = pods
        .exec("box", ["cat"], &ap.clone().stdin(true))
        .await
        .unwrap();
    let mut stdin = p.stdin().unwrap();
    stdin.write_all(b"through stdin").await.unwrap();
    drop(stdin);
    let status = p.take_status().unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "through stdin");
    assert_eq!(status.await.unwrap().status.as_deref(), Some("Success"));
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_and_proxy_reach_the_pods_own_loopback() {
    let steady = testkit::go_app("steady");
    let cluster = TestCluster::start(&[&go_pod("web", &steady, "")]).unwrap();
    wait_listening(&cluster, "web");
    let client = client(&cluster).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let mut pf = pods.portforward("web", &[6060]).await.unwrap();
    let mut s = pf.take_stream(6060).unwrap();
    s.write_all(b"GET /work?n=2 HTTP/1.0\r\nHost: pod\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.0 200"), "{resp}");
    assert!(resp.contains("ok "), "{resp}");
    drop(s);
    pf.abort();

    let via_proxy = client
        .request_text(
            http::Request::get(
                "/api/v1/namespaces/default/pods/web:6060/proxy/debug/pprof/heap?debug=1",
            )
            .body(Vec::new())
            .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        via_proxy.starts_with("heap profile:"),
        "{}",
        &via_proxy[..via_proxy.len().min(200)]
    );
    // A named port works as well.
    let named = client
        .request_text(
            http::Request::get("/api/v1/namespaces/default/pods/web:http/proxy/work?n=1")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(named.starts_with("ok "), "{named}");
    // The pod's 127.0.0.1:6060 is its own: nothing listens there on the host
    // unless another program happens to (then it is not this pod's app).
    if let Ok((code, body)) = testkit::http_get("127.0.0.1:6060", "/work?n=1") {
        assert!(
            !(code == 200 && body.starts_with(b"ok ")),
            "the pod's port leaked to the host"
        );
    }
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_container_shares_the_apps_pids_but_keeps_the_hosts_root() {
    let cluster = TestCluster::start(&[&sleeper("target")]).unwrap();
    cluster
        .wait_for_pod("default", "target", "running", running)
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    let marker = testkit::build_dir().join(format!("host-root-marker-{}", std::process::id()));
    std::fs::write(&marker, "host").unwrap();
    let patch = json!({"spec": {"ephemeralContainers": [{
        "name": "debugger", "image": "busybox:1.36",
        "command": ["/bin/sleep", "infinity"], "targetContainerName": "app",
    }]}});
    pods.patch_ephemeral_containers("target", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .is_some_and(|e| {
                e.iter().any(|c| {
                    c.name == "debugger" && c.state.as_ref().is_some_and(|s| s.running.is_some())
                })
            })
    };
    cluster
        .wait_for_pod("default", "target", "ephemeral running", ready)
        .unwrap();
    let ap = AttachParams::default()
        .container("debugger")
        .stdout(true)
        .stderr(false);
    let cmd = format!("cat /proc/1/cmdline; echo; cat {}", marker.display());
    let mut p = pods
        .exec("target", ["sh", "-c", cmd.as_str()], &ap)
        .await
        .unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    p.join().await.unwrap();
    assert_eq!(out, "/bin/sleep\0infinity\0\nhost");
    let _ = std::fs::remove_file(&marker);
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distroless_container_has_only_its_binary() {
    let steady = testkit::go_static_app("steady");
    let ann = format!("\"{DISTROLESS_ANNOTATION}\": app");
    let cluster = TestCluster::start(&[&go_pod("bare", &steady, &ann)]).unwrap();
    wait_listening(&cluster, "bare");
    let pods: Api<Pod> = Api::namespaced(client(&cluster).await, "default");
    let ap = AttachParams::default()
        .container("app")
        .stdout(true)
        .stderr(true);
    let mut p = pods.exec("bare", ["sh", "-c", "true"], &ap).await.unwrap();
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert!(status.message.unwrap().contains("\"sh\""));
    // The binary itself is all there is, and still serves.
    let pid = cluster.container_pid("default", "bare", "app").unwrap();
    let root: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !root
            .iter()
            .any(|n| n == "bin" || n == "usr" && !steady.starts_with("/usr")),
        "{root:?}"
    );
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_oom_kill_is_oomkilled_137_and_restarts() {
    // Python grows by 4 MiB steps under a 48 MiB limit: the kernel kills it.
    let leak = "apiVersion: v1\nkind: Pod\nmetadata: {name: leaky}\nspec:\n  containers:\n  - name: app\n    image: example/leaky:1\n    command: [\"python3\", \"-c\", \"import time\\nkeep = []\\nwhile True:\\n    keep.append(bytearray(4 << 20))\\n    time.sleep(0.01)\\n\"]\n    resources: {limits: {memory: 48Mi}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: quits}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: example/quits:1\n    command: [\"sh\", \"-c\", \"exit 7\"]\n";
    let cluster = TestCluster::start(&[leak]).unwrap();
    let restarted = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| {
                c[0].restart_count >= 1
                    && c[0]
                        .last_state
                        .as_ref()
                        .is_some_and(|l| l.terminated.is_some())
            })
    };
    let pod = cluster
        .wait_for_pod("default", "leaky", "restarted", restarted)
        .unwrap();
    let cs = &pod.status.unwrap().container_statuses.unwrap()[0];
    let t = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(t.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(t.exit_code, 137);
    assert!(t.finished_at.is_some());

    let done = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed");
    let quits = cluster
        .wait_for_pod("default", "quits", "failed", done)
        .unwrap();
    let t = quits.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (7, Some("Error")));

    // Events: starts, and the kernel's OOM kill on the node.
    let client = client(&cluster).await;
    let events: Api<Event> = Api::all(client);
    let evs = events.list(&ListParams::default()).await.unwrap().items;
    let reasons: Vec<&str> = evs.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert!(reasons.contains(&"Started"), "{reasons:?}");
    assert!(reasons.contains(&"SystemOOM"), "{reasons:?}");
    assert_clean(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_own_replicasets_that_own_pods() {
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: example/web:1\n        command: [\"/bin/sleep\", \"infinity\"]\n        resources: {limits: {memory: 16Mi}, requests: {memory: 16Mi}}\n";
    let cluster = TestCluster::start(&[deploy]).unwrap();
    let client = client(&cluster).await;
    let d: Deployment = Api::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    let sel = d.spec.unwrap().selector.match_labels.unwrap();
    let rss: Vec<ReplicaSet> = Api::namespaced(client.clone(), "shop")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    assert_eq!(
        rs.metadata.owner_references.as_ref().unwrap()[0].uid,
        d.metadata.uid.clone().unwrap()
    );
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let selector = sel
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 2);
    for p in &list {
        assert_eq!(
            p.metadata.owner_references.as_ref().unwrap()[0].uid,
            rs.metadata.uid.clone().unwrap()
        );
        let name = p.metadata.name.clone().unwrap();
        assert!(
            name.starts_with(&format!("{}-", rs.metadata.name.as_deref().unwrap())),
            "{name}"
        );
        cluster
            .wait_for_pod("shop", &name, "running", running)
            .unwrap();
    }
    assert_eq!(
        pods.list(&ListParams::default().labels("app=other"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert_clean(cluster);
}

fn kubectl(cluster: &TestCluster, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(args)
        .output()
        .expect("run kubectl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_real_kubectl_gets_pods_and_events_execs_and_creates() {
    let cluster = TestCluster::start(&[&sleeper("first")]).unwrap();
    cluster
        .wait_for_pod("default", "first", "running", running)
        .unwrap();

    let (ok, out, err) = kubectl(&cluster, &["get", "pods"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["first", "1/1", "Running", "0"], "{out}");

    let (ok, out, err) = kubectl(&cluster, &["get", "events"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("LAST SEEN"), "{out}");
    assert!(
        out.contains("Started") && out.contains("pod/first"),
        "{out}"
    );

    let (ok, out, err) = kubectl(&cluster, &["exec", "first", "--", "cat", "/proc/1/cmdline"]);
    assert!(ok, "{err}");
    assert_eq!(out, "/bin/sleep\0infinity\0");
    let (ok, _, err) = kubectl(&cluster, &["exec", "first", "--", "sh", "-c", "exit 4"]);
    assert!(!ok && err.contains("exit code 4"), "{err}");

    let file = testkit::write_file(
        &testkit::build_dir(),
        &format!("second-{}.yaml", std::process::id()),
        sleeper("second").as_bytes(),
    );
    let (ok, out, err) = kubectl(&cluster, &["create", "-f", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "pod/second created");
    cluster
        .wait_for_pod("default", "second", "running", running)
        .unwrap();
    let (ok, out, _) = kubectl(&cluster, &["get", "pods", "-A", "-o", "wide"]);
    assert!(
        ok && out.contains("second") && out.contains("testkit-node"),
        "{out}"
    );
    let _ = std::fs::remove_file(file);
    assert_clean(cluster);
}
