//! The Node runtime over the local transport, against real Node processes.

use lh_capture::{node, CaptureOptions, Capturer, Local, Port, Transport};
use std::process::Command;
use std::sync::Arc;
use testkit::{repo_root, start_listening};

fn demo_server(inspect: &str) -> Command {
    let mut node = Command::new("node");
    node.arg(inspect)
        .arg(repo_root().join("crates/leakhound/demo/server.js"));
    node
}

fn ports(t: &dyn Transport) -> Vec<Port> {
    t.listening_ports().unwrap()
}

/// An inspector that SIGUSR1 opened for the capture is closed after it:
/// anyone who reaches that port could run code in the process.
#[test]
fn an_inspector_leakhound_opened_is_closed_after_the_capture() {
    // --inspect-port only picks the port SIGUSR1 will open: no clash with 9229.
    let (app, addr) = start_listening(demo_server("--inspect-port=0"));
    let t: Arc<dyn Transport> = Arc::new(Local::process(app.pid()));
    let before = ports(&*t);
    assert_eq!(
        before,
        vec![Port::parse(&addr).unwrap()],
        "only the app's port"
    );
    let dir = tempfile::tempdir().unwrap();
    let c = Capturer::attach(t.clone()).unwrap();
    for seq in 1..=2 {
        let files = c
            .capture(dir.path(), seq, &CaptureOptions::default())
            .unwrap();
        assert!(std::fs::metadata(&files[0]).unwrap().len() > 1000);
    }
    assert_eq!(ports(&*t).len(), 2, "the inspector is open while capturing");
    c.finish().unwrap();
    assert_eq!(ports(&*t), before, "the inspector was left open");
    assert!(node::find_inspector(&*t).unwrap().is_none());
    // The process lives on, and a second capture opens (and closes) it again.
    let c = Capturer::attach(t.clone()).unwrap();
    c.capture(dir.path(), 3, &CaptureOptions::default())
        .unwrap();
    drop(c);
    assert_eq!(ports(&*t), before, "dropping closes it too");
}

/// An inspector that was open before is the user's: it stays open.
#[test]
fn an_inspector_that_was_open_before_is_left_open() {
    let (app, _) = start_listening(demo_server("--inspect=127.0.0.1:0"));
    let t: Arc<dyn Transport> = Arc::new(Local::process(app.pid()));
    let before = node::find_inspector(&*t)
        .unwrap()
        .expect("open from the start");
    let dir = tempfile::tempdir().unwrap();
    let c = Capturer::attach(t.clone()).unwrap();
    c.capture(dir.path(), 1, &CaptureOptions::default())
        .unwrap();
    c.finish().unwrap();
    let after = node::find_inspector(&*t).unwrap().expect("still open");
    assert_eq!(before.0, after.0);
}
