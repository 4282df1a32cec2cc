//! `DomainEventSource` against real libvirt daemons (as root):
//! * the libvirtd and the shut-off guest of `scripts/libvirt-env.sh start STATE_DIR` (which
//!   prints the environment these tests read): `HOTPLUGD_TEST_LIBVIRT_URI`, the libvirt URI
//!   (required; without it the test fails, unless `HOTPLUGD_SKIP_LIBVIRT_TESTS=1` opts out, and then
//!   it says it was skipped), and `HOTPLUGD_TEST_DOMAIN_OFF`, a defined guest that is shut off
//!   (default `hotplugd-test-off`). Only that guest is used, so other tests may share the daemon;
//!   it is left shut off;
//! * a private libvirtd that the reconnect test starts, kills and starts again: a session daemon
//!   run as `nobody` with its own directories, serving the test driver (`test+unix:///default`
//!   on its own socket), so it disturbs nothing else on the machine. It needs root and `libvirtd`,
//!   and honours `HOTPLUGD_SKIP_LIBVIRT_TESTS=1` too.

use std::env;
use std::fs::{self, File};
use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use libvirt_sync::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
use virt::connect::Connect;

/// How long a guest's lifecycle event may take to arrive.
const EVENT_BOUND: Duration = Duration::from_secs(10);
/// How long a daemon may take to start, or the source to notice it went away or came back.
const DAEMON_BOUND: Duration = Duration::from_secs(15);

/// Whether the developer opted out of the tests that need real libvirt daemons, after saying so.
fn opted_out(test: &str) -> bool {
    let skip = env::var("HOTPLUGD_SKIP_LIBVIRT_TESTS").as_deref() == Ok("1");
    if skip {
        eprintln!("{test}: SKIPPED (HOTPLUGD_SKIP_LIBVIRT_TESTS=1): it needs a real libvirtd");
    }
    skip
}

/// The URI and shut-off guest from the variables that `scripts/libvirt-env.sh start` prints, or
/// `None` when the developer opted out. Fails the test, saying how to start the environment,
/// when neither is set.
fn real_libvirt(test: &str) -> Option<(String, String)> {
    let Ok(uri) = env::var("HOTPLUGD_TEST_LIBVIRT_URI") else {
        if opted_out(test) {
            return None;
        }
        panic!(
            "{test} needs a real libvirtd with a shut-off test guest, and HOTPLUGD_TEST_LIBVIRT_URI \
             is not set. Start one as root with\n    eval \"$(scripts/libvirt-env.sh start /tmp/hotplugd-libvirt)\"\n\
             (stop it with `scripts/libvirt-env.sh stop /tmp/hotplugd-libvirt`), or opt out of the \
             real-libvirt tests with HOTPLUGD_SKIP_LIBVIRT_TESTS=1"
        );
    };
    let off = env::var("HOTPLUGD_TEST_DOMAIN_OFF").unwrap_or_else(|_| "hotplugd-test-off".into());
    Some((uri, off))
}

/// A source on `uri` whose events arrive on the returned channel.
fn start_source(uri: &str) -> (DomainEventSource, Receiver<DomainEvent>) {
    init_event_loop().unwrap();
    let (sender, events) = mpsc::channel();
    let source = DomainEventSource::start(Some(uri), move |event| {
        let _ = sender.send(event);
    })
    .unwrap();
    assert!(source.is_connected(), "no connection to {uri}");
    (source, events)
}

/// Waits for `expected`, skipping other events, for at most `bound`; how long it took.
fn wait_for(events: &Receiver<DomainEvent>, expected: &DomainEvent, bound: Duration) -> Duration {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let left = bound.saturating_sub(start.elapsed());
        match events.recv_timeout(left) {
            Ok(event) if &event == expected => return start.elapsed(),
            Ok(other) => seen.push(other),
            Err(error) => panic!("no {expected:?} within {bound:?} ({error:?}); saw {seen:?}"),
        }
    }
}

/// Polls `condition` until it holds, for at most `bound`.
fn wait_until(what: &str, bound: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + bound;
    while !condition() {
        assert!(Instant::now() < deadline, "not {what} within {bound:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn lifecycle(domain: &str, change: LifecycleChange) -> DomainEvent {
    DomainEvent::Lifecycle {
        domain: domain.to_string(),
        change,
    }
}

/// Runs `virsh -q -c URI ARGS…`; its stdout, or its stderr as the error.
fn virsh(uri: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new("virsh")
        .args(["-q", "-c", uri])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("virsh runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Destroys the guest when dropped if it still runs, so that a failing test leaves it shut off.
struct ShutOffOnDrop<'a> {
    uri: &'a str,
    domain: &'a str,
}

impl Drop for ShutOffOnDrop<'_> {
    fn drop(&mut self) {
        let _ = virsh(self.uri, &["destroy", self.domain]);
    }
}

#[test]
fn real_starting_and_destroying_the_off_guest_reports_started_then_stopped() {
    let test = "real_starting_and_destroying_the_off_guest_reports_started_then_stopped";
    let Some((uri, off)) = real_libvirt(test) else {
        return;
    };
    let (_source, events) = start_source(&uri);
    let state = virsh(&uri, &["domstate", &off]).unwrap();
    assert_eq!(
        state.trim(),
        "shut off",
        "{off} must be shut off to start with"
    );
    let _shut_off = ShutOffOnDrop {
        uri: &uri,
        domain: &off,
    };

    virsh(&uri, &["start", &off]).unwrap();
    let started = wait_for(
        &events,
        &lifecycle(&off, LifecycleChange::Started),
        EVENT_BOUND,
    );
    virsh(&uri, &["destroy", &off]).unwrap();
    let stopped = wait_for(
        &events,
        &lifecycle(&off, LifecycleChange::Stopped),
        EVENT_BOUND,
    );
    eprintln!("{off}: started event {started:?} after `virsh start` returned, stopped {stopped:?} after `virsh destroy`");
}

/// A libvirtd of this test's own, run as `nobody` in session mode with its own directories.
struct PrivateLibvirtd {
    dir: PathBuf,
    uid: u32,
    gid: u32,
    daemon: Option<Child>,
}

impl PrivateLibvirtd {
    fn new() -> PrivateLibvirtd {
        let id = |flag: &str| -> u32 {
            let output = Command::new("id").args([flag, "nobody"]).output().unwrap();
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .unwrap()
        };
        let dir = env::temp_dir().join(format!("hotplugd-events-libvirtd-{}", std::process::id()));
        let (uid, gid) = (id("-u"), id("-g"));
        for sub in ["", "home", "run", "config", "cache"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).unwrap();
            chown(&path, Some(uid), Some(gid)).unwrap();
        }
        PrivateLibvirtd {
            dir,
            uid,
            gid,
            daemon: None,
        }
    }

    /// The test driver's default node, served by this daemon.
    fn uri(&self) -> String {
        format!(
            "test+unix:///default?socket={}",
            self.dir.join("run/libvirt/libvirt-sock").display()
        )
    }

    /// Starts the daemon and waits until it accepts connections.
    fn start(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("libvirtd.log"))
            .unwrap();
        let daemon = Command::new("setpriv")
            .args([
                "--reuid",
                &self.uid.to_string(),
                "--regid",
                &self.gid.to_string(),
            ])
            .args(["--clear-groups", "--", "libvirtd"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", self.dir.join("home"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("setpriv and libvirtd run (as root)");
        self.daemon = Some(daemon);
        let uri = self.uri();
        wait_until("accepting connections", DAEMON_BOUND, || {
            Connect::open(Some(&uri)).is_ok()
        });
    }

    /// Kills the daemon (`setpriv` execs it: the child is libvirtd itself), as a crash would.
    fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

impl Drop for PrivateLibvirtd {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Pauses and resumes the test driver's domain `test` through a connection of its own.
fn pause_and_resume(uri: &str) {
    let connection = Connect::open(Some(uri)).unwrap();
    let domain = connection.lookup_domain_by_name("test").unwrap();
    domain.suspend().unwrap();
    domain.resume().unwrap();
}

#[test]
fn after_libvirtd_restarts_the_source_reports_reconnected_and_events_again() {
    let test = "after_libvirtd_restarts_the_source_reports_reconnected_and_events_again";
    if opted_out(test) {
        return;
    }
    init_event_loop().unwrap();
    let mut libvirtd = PrivateLibvirtd::new();
    libvirtd.start();
    let uri = libvirtd.uri();
    let (source, events) = start_source(&uri);
    let resumed = lifecycle("test", LifecycleChange::Resumed);
    pause_and_resume(&uri);
    wait_for(&events, &resumed, EVENT_BOUND);

    libvirtd.kill();
    wait_until("disconnected", DAEMON_BOUND, || !source.is_connected());
    libvirtd.start();
    let back = wait_for(&events, &DomainEvent::Reconnected, DAEMON_BOUND);
    assert!(source.is_connected());
    eprintln!("reconnected {back:?} after libvirtd accepted connections again");

    // Registered anew: the new daemon's events arrive.
    pause_and_resume(&uri);
    wait_for(&events, &resumed, EVENT_BOUND);
}
