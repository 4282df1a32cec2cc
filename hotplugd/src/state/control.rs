//! The `attach` and `detach` commands talk to the running daemon through its state directory: a
//! request file in `requests/` (mode 0700: nothing a non-root user can write; no socket), which the
//! daemon notices at once with inotify, and its answer in `responses/`, written once the reconcile
//! that carries the request out has ended.
//!
//! ```
//! use hotplugd::state::control::{resolve, Request};
//!
//! let request: Request = serde_json::from_str(r#"{"op": "detach", "device": "003/004"}"#)?;
//! assert_eq!(request, Request::Detach { device: "003/004".into() });
//! assert!(resolve("3-6.3", &[]).is_err());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::inotify;
use serde::{Deserialize, Serialize};
use usb_discovery::UsbDevice;

use super::{read_json, write_json, StateDir, StateError};

/// What a person asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Detach the device now (if attached) and put it on hold.
    Detach {
        /// `BUS/DEV` (`003/004`) or the port (`3-6.3`), as `list` prints them.
        device: String,
    },
    /// Release the device's hold; with `to`, assign it to that running machine until unplugged.
    Attach {
        /// As for [`Request::Detach`].
        device: String,
        /// The machine to assign it to.
        to: Option<String>,
    },
}

impl Request {
    /// The device it names.
    pub fn device(&self) -> &str {
        match self {
            Request::Detach { device } | Request::Attach { device, .. } => device,
        }
    }
}

/// A request as written, with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RequestFile {
    id: String,
    #[serde(flatten)]
    request: Request,
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Whether it was done.
    pub ok: bool,
    /// What became of it, in words.
    pub message: String,
}

/// Why a request could not be made or answered.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The request or its answer could not be written or read.
    #[error(transparent)]
    State(#[from] StateError),
    /// The daemon did not answer in time.
    #[error("the daemon did not answer within {} s", .0.as_secs())]
    NoAnswer(Duration),
}

/// Writes `request` for the daemon of `state` and waits up to `wait` for its answer.
pub fn submit(
    state: &StateDir,
    request: Request,
    wait: Duration,
) -> Result<Response, ControlError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let id = format!("{}-{nanos}", std::process::id());
    let file = RequestFile {
        id: id.clone(),
        request,
    };
    write_json(&state.requests().join(format!("{id}.json")), &file, 0o600)?;
    let answer = state.responses().join(format!("{id}.json"));
    let deadline = Instant::now() + wait;
    loop {
        if let Some(response) = read_json::<Response>(&answer)? {
            let _ = fs::remove_file(&answer);
            return Ok(response);
        }
        if Instant::now() >= deadline {
            // Withdrawn, unless the daemon took it meanwhile.
            let _ = fs::remove_file(state.requests().join(format!("{id}.json")));
            return Err(ControlError::NoAnswer(wait));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The requests waiting in `state`, oldest first, each with its id; the files are taken away. A
/// file that does not parse is answered at once, and left out.
pub fn take(state: &StateDir) -> Vec<(String, Request)> {
    let Ok(entries) = fs::read_dir(state.requests()) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut requests = Vec::new();
    for path in paths {
        let read = read_json::<RequestFile>(&path);
        let _ = fs::remove_file(&path);
        match read {
            Ok(Some(file)) => requests.push((file.id, file.request)),
            Ok(None) => {}
            Err(error) => {
                let id = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .unwrap_or_default();
                answer(
                    state,
                    &id,
                    &Response {
                        ok: false,
                        message: crate::error_chain(&error),
                    },
                );
            }
        }
    }
    requests
}

/// Writes the answer to request `id` (a failure to write is logged: the command then says that
/// the daemon did not answer).
pub fn answer(state: &StateDir, id: &str, response: &Response) {
    let path = state.responses().join(format!("{id}.json"));
    if let Err(error) = write_json(&path, response, 0o600) {
        log::warn!("{}", crate::error_chain(&error));
    }
}

/// The device `designator` names among `devices`: `BUS/DEV` (`003/004`, or `3/4`) or a port
/// (`3-6.3`).
pub fn resolve<'a>(designator: &str, devices: &'a [UsbDevice]) -> Result<&'a UsbDevice, String> {
    let numbers = designator
        .split_once('/')
        .and_then(|(bus, device)| Some((bus.parse::<u16>().ok()?, device.parse::<u16>().ok()?)));
    let found = match numbers {
        Some((bus, number)) => devices
            .iter()
            .find(|device| device.bus == bus && device.device == number),
        None => devices
            .iter()
            .find(|device| device.kernel_name == designator),
    };
    found.ok_or_else(|| {
        format!(
            "no USB device {designator} (give BUS/DEV, as 003/004, or the port, as 3-6.3, as \
             `list` prints them)"
        )
    })
}

/// Watches `folder` for new requests, sending `wake` on each, on a thread of its own. Fails when
/// inotify cannot be set up (the daemon then finds requests at its next wake-up).
pub fn watch(folder: &Path, wake: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
    inotify::add_watch(
        &fd,
        folder,
        inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::CLOSE_WRITE,
    )?;
    std::thread::Builder::new()
        .name("requests".to_owned())
        .spawn(move || {
            let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
            let mut reader = inotify::Reader::new(&fd, &mut buffer);
            loop {
                match reader.next() {
                    Ok(_) => wake(),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(error) => {
                        log::warn!("watching the control requests stopped: {error}");
                        break;
                    }
                }
            }
        })?;
    Ok(())
}

/// A sender of wake-ups, for [`watch`].
pub fn waking<T: Send + Clone + 'static>(sender: Sender<T>, trigger: T) -> impl Fn() + Send {
    move || {
        let _ = sender.send(trigger.clone());
    }
}
