//! `DomainEventSource` against real libvirt daemons (as root):
//! * the libvirtd and the shut-off guest of `scripts/libvirt-env.sh start STATE_DIR`, found by
//!   `fixtures::libvirt::RealLibvirt` from `HOTPLUGD_TEST_LIBVIRT_URI` (required; without it the
//!   test fails, unless `HOTPLUGD_SKIP_LIBVIRT_TESTS=1` opts out, and then it says it was skipped)
//!   and `HOTPLUGD_TEST_DOMAIN_OFF` (default `hotplugd-test-off`). Only that guest is used, so
//!   other tests may share the daemon; it is left shut off;
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

use fixtures::libvirt::{opted_out, RealLibvirt};
use libvirt_sync::{init_event_loop, DomainEvent, DomainEventSource, LifecycleChange};
use virt::connect::Connect;

/// How long a guest's lifecycle event may take to arrive.
const EVENT_BOUND: Duration = Duration::from_secs(10);
/// How long a daemon may take to start, or the source to notice it went away or came back.
const DAEMON_BOUND: Duration = Duration::from_secs(15);

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

/// Destroys the shut-off guest when dropped if it still runs, so that a failing test leaves it
/// shut off.
struct ShutOffOnDrop<'a>(&'a RealLibvirt);

impl Drop for ShutOffOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.virsh(&["destroy", &self.0.shut_off], "");
    }
}

#[test]
fn real_starting_and_destroying_the_off_guest_reports_started_then_stopped() {
    let test = "real_starting_and_destroying_the_off_guest_reports_started_then_stopped";
    let Some(real) = RealLibvirt::from_env(test) else {
        return;
    };
    let off = &real.shut_off;
    let (_source, events) = start_source(&real.uri);
    let state = real.virsh(&["domstate", off], "").unwrap();
    assert_eq!(
        state.trim(),
        "shut off",
        "{off} must be shut off to start with"
    );
    let _shut_off = ShutOffOnDrop(&real);

    real.virsh(&["start", off], "").unwrap();
    let started = wait_for(
        &events,
        &lifecycle(off, LifecycleChange::Started),
        EVENT_BOUND,
    );
    real.virsh(&["destroy", off], "").unwrap();
    let stopped = wait_for(
        &events,
        &lifecycle(off, LifecycleChange::Stopped),
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

#[test]
fn real_attaching_and_detaching_a_hostdev_reports_device_added_and_removed_with_its_alias() {
    let test =
        "real_attaching_and_detaching_a_hostdev_reports_device_added_and_removed_with_its_alias";
    let Some(real) = RealLibvirt::from_env(test) else {
        return;
    };
    let (_source, events) = start_source(&real.uri);
    let alias = "ua-hotplugd-45-1-046d-0825";
    let xml = format!(
        "<hostdev mode='subsystem' type='usb'><source startupPolicy='optional'>\
         <vendor id='0x046d'/><product id='0x0825'/><address bus='45' device='1'/></source>\
         <alias name='{alias}'/></hostdev>"
    );
    let live = ["/dev/stdin", "--live"];
    real.virsh(
        &[&["attach-device", &real.running][..], &live].concat(),
        &xml,
    )
    .unwrap();
    // As a person would: `virsh detach-device` of the daemon's hostdev.
    real.virsh(
        &[&["detach-device", &real.running][..], &live].concat(),
        &xml,
    )
    .unwrap();
    let removed = DomainEvent::DeviceRemoved {
        domain: real.running.clone(),
        alias: alias.to_string(),
    };
    wait_for(&events, &removed, EVENT_BOUND);
}
