//! Running the binary as an unprivileged user: `nobody` through `setpriv` (util-linux) when the
//! tests run as root, else the current user, who is unprivileged already.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The uid and gid of `nobody`.
pub const NOBODY: &str = "65534";
/// Longer than any of these commands takes; a command still running then is a failure.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Who runs the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// The user running the tests.
    Current,
    /// `nobody`, through `setpriv` (the tests run as root).
    Nobody,
}

/// What a finished command left.
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success without a panic, and gives stdout.
    pub fn succeeded(&self, what: &str) -> &str {
        assert_eq!(
            self.status.code(),
            Some(0),
            "{what}: stderr: {}",
            self.stderr
        );
        assert_no_panic(what, &self.stderr);
        &self.stdout
    }

    /// Asserts exit status 1 with exactly one line on stderr, ours, and nothing on stdout; gives
    /// the line.
    pub fn failed_with_one_line(&self, what: &str) -> &str {
        assert_eq!(
            self.status.code(),
            Some(1),
            "{what}: stderr: {}",
            self.stderr
        );
        assert_no_panic(what, &self.stderr);
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "{what}: one line: {:?}",
            self.stderr
        );
        assert!(self.stderr.ends_with('\n'), "{what}: {:?}", self.stderr);
        assert!(
            self.stderr.starts_with("libvirt-usb-hotplugd: "),
            "{what}: {:?}",
            self.stderr
        );
        assert_eq!(self.stdout, "", "{what}: nothing on stdout");
        self.stderr.trim_end()
    }
}

pub fn assert_no_panic(what: &str, stderr: &str) {
    for trace in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(trace), "{what}: {trace:?} in {stderr:?}");
    }
}

pub fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

/// `nobody` when the tests run as root (and `setpriv` is there: a root run without it fails),
/// else the current user.
pub fn unprivileged_user() -> User {
    if !is_root() {
        eprintln!(
            "note: the tests do not run as root, so the commands run as the current user, who is \
             unprivileged already; setpriv is not used"
        );
        return User::Current;
    }
    let id = Command::new("setpriv")
        .args(setpriv_arguments())
        .args(["id", "-u"])
        .output()
        .expect(
            "setpriv (util-linux) is needed to run the commands as nobody when tests run as root",
        );
    assert!(id.status.success(), "setpriv: {:?}", id);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), NOBODY);
    User::Nobody
}

pub fn setpriv_arguments() -> [String; 3] {
    [
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_owned(),
    ]
}

/// The binary as `user`, started in `/`, without debug logging or journal mode from the
/// environment, with `RUST_BACKTRACE=1` so that a panic would show.
pub fn command(user: User) -> Command {
    let binary = env!("CARGO_BIN_EXE_libvirt-usb-hotplugd");
    let mut command = match user {
        User::Current => Command::new(binary),
        User::Nobody => {
            let mut command = Command::new("setpriv");
            command.args(setpriv_arguments()).arg(binary);
            // nobody's environment: no home, no session.
            command
                .env("HOME", "/nonexistent")
                .env_remove("XDG_RUNTIME_DIR")
                .env_remove("XDG_CONFIG_HOME")
                .env_remove("XDG_CACHE_HOME");
            command
        }
    };
    command
        .current_dir("/")
        .env_remove("WHAWTY_LIBVIRT_USB_HOTPLUGD_DEBUG")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_BACKTRACE", "1");
    command
}

/// Runs the binary with `args` as `user`, to the end (within [`TIME_LIMIT`]).
pub fn hotplugd<S: AsRef<OsStr>>(user: User, args: &[S]) -> Run {
    let mut command = command(user);
    command.args(args);
    run_within_time_limit(command)
}

pub fn run_within_time_limit(mut command: Command) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("utf-8 output");
            text
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("stdout piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("stderr piped")));
    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting works") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().expect("killed");
            panic!("{command:?} still runs after {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: stdout.join().expect("stdout read"),
        stderr: stderr.join().expect("stderr read"),
    }
}
