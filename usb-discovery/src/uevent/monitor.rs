//! The netlink socket that receives udev's events, and a thread that runs it.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    bind, recvmsg, socket_with, sockopt, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, ReturnFlags, SocketFlags, SocketType,
};

use super::message::{may_be_usb_device, DropReason, UeventMessage, UsbUevent, MAX_MESSAGE_LEN};
use crate::Error;

/// The netlink multicast group of the kernel's own uevents.
pub(crate) const KERNEL_GROUP: u32 = 1;
/// The netlink multicast group udevd re-broadcasts each event to after its rules ran.
pub(crate) const UDEV_GROUP: u32 = 2;

/// The receive buffer asked for: room for thousands of queued events (a hub plugged in sends
/// dozens, a coldplug thousands). Kernel memory, used only while events wait.
const RECEIVE_BUFFER_SIZE: usize = 16 * 1024 * 1024;

/// What one receive gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A `usb_device` event (`SUBSYSTEM=usb`, `DEVTYPE=usb_device`) from a trusted sender.
    Device(UsbUevent),
    /// A well-formed event from a trusted sender, of another subsystem or device type
    /// (`usb_interface`, `block`, …).
    Other(UeventMessage),
    /// A message that was dropped: malformed, oversized, or from an untrusted sender.
    Dropped(DropReason),
    /// The socket's receive buffer overflowed (`ENOBUFS`): events were lost, so the device list
    /// must be rescanned in full.
    Overflow,
}

/// A `NETLINK_KOBJECT_UEVENT` socket bound to udev's group (2), which udevd sends each event to
/// once its rules ran and the udev database record is written.
///
/// Only messages multicast by the kernel or by root are accepted, with the checks of systemd's
/// sd-device monitor: the sender credentials (`SCM_CREDENTIALS`, enabled by `SO_PASSCRED` and
/// filled in by the kernel) must say uid 0, a unicast message (sender group 0) is dropped, and a
/// message on the kernel's group must come from port 0, the kernel. Like sd-device, any root
/// process counts as udevd (sending to a group needs `CAP_NET_ADMIN` anyway). A process in a user
/// namespace whose root is not the host's shows up with the overflow uid and is dropped.
///
/// Netlink multicast is per network namespace: udevd sends in the host's, so the daemon must run
/// there; a monitor in a private namespace (`unshare -n`) sees only what is sent inside it.
pub struct UeventMonitor {
    socket: OwnedFd,
    buffer: Vec<u8>,
    /// Whether messages of anything but a `usb_device` are passed over unparsed.
    usb_devices_only: bool,
}

impl UeventMonitor {
    /// Opens the socket, asks for sender credentials and a 16 MiB receive buffer (forced beyond
    /// `rmem_max` when root, else as large as allowed), and binds it to udev's group.
    pub fn open() -> Result<UeventMonitor, Error> {
        UeventMonitor::open_with_receive_buffer(RECEIVE_BUFFER_SIZE)
    }

    /// [`UeventMonitor::open`], bound to the kernel's group (1) too: the kernel's own event comes
    /// first, udevd's (with the udev properties and the database record written) after its rules
    /// ran. Tell them apart by [`UsbUevent::source`](crate::UsbUevent::source).
    pub fn open_with_kernel_events() -> Result<UeventMonitor, Error> {
        UeventMonitor::open_bound(
            RECEIVE_BUFFER_SIZE,
            KERNEL_GROUP | UDEV_GROUP,
            "bind to groups 1 and 2",
        )
    }

    /// [`UeventMonitor::open`] with a receive buffer of `bytes` (the kernel doubles it for its
    /// bookkeeping and keeps a minimum of a few KiB). Events that do not fit are lost and
    /// reported as [`Received::Overflow`].
    pub fn open_with_receive_buffer(bytes: usize) -> Result<UeventMonitor, Error> {
        UeventMonitor::open_bound(bytes, UDEV_GROUP, "bind to group 2")
    }

    /// The socket, bound to the multicast `groups` (a bit mask: 1 the kernel's, 2 udev's).
    fn open_bound(
        bytes: usize,
        groups: u32,
        bind_step: &'static str,
    ) -> Result<UeventMonitor, Error> {
        let failed = |step| {
            move |errno: Errno| Error::OpenUeventMonitor {
                step,
                source: errno.into(),
            }
        };
        let socket = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::KOBJECT_UEVENT),
        )
        .map_err(failed("socket"))?;
        sockopt::set_socket_passcred(&socket, true).map_err(failed("SO_PASSCRED"))?;
        if let Err(errno) = sockopt::set_socket_recv_buffer_size_force(&socket, bytes) {
            log::debug!("cannot force the uevent receive buffer ({errno}), asking within rmem_max");
            sockopt::set_socket_recv_buffer_size(&socket, bytes).map_err(failed("SO_RCVBUF"))?;
        }
        bind(&socket, &SocketAddrNetlink::new(0, groups)).map_err(failed(bind_step))?;
        Ok(UeventMonitor {
            socket,
            buffer: vec![0; MAX_MESSAGE_LEN],
            usb_devices_only: false,
        })
    }

    /// The monitor, receiving only the events of USB devices from now on: a message (from a
    /// trusted sender) of another subsystem or device type is passed over without being parsed
    /// (see [`may_be_usb_device`](crate::may_be_usb_device)), never a [`Received::Other`]. A
    /// plugged device sends dozens of events of its interfaces, input and HID devices, twice
    /// (the kernel's and udev's), all on the busiest moment of its configuration.
    pub fn only_usb_devices(mut self) -> UeventMonitor {
        self.usb_devices_only = true;
        self
    }

    /// Waits for the next message and says what it was.
    pub fn recv(&mut self) -> Result<Received, Error> {
        loop {
            if let Some(received) = self.receive(RecvFlags::empty())? {
                return Ok(received);
            }
        }
    }

    /// Like [`UeventMonitor::recv`], but gives up after `timeout`: `None` when no message came.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Received>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
            match poll(&mut fds, Some(&timespec(left))) {
                Ok(0) if left.is_zero() => return Ok(None),
                Ok(0) | Err(Errno::INTR) => continue,
                Ok(_) => {}
                Err(errno) => {
                    return Err(Error::ReceiveUevent {
                        source: errno.into(),
                    })
                }
            }
            if let Some(received) = self.receive(RecvFlags::DONTWAIT)? {
                return Ok(Some(received));
            }
        }
    }

    /// Runs the monitor on its own thread (`uevent-monitor`), calling `handler` with every
    /// [`Received`]. A receive error is passed to `handler` once and ends the thread. The thread
    /// stops when [`MonitorThread::stop`] is called or the [`MonitorThread`] is dropped.
    pub fn spawn<F>(mut self, mut handler: F) -> Result<MonitorThread, Error>
    where
        F: FnMut(Result<Received, Error>) + Send + 'static,
    {
        let start_failed = |source| Error::StartUeventThread { source };
        let stop = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|errno| start_failed(errno.into()))?;
        let stop = Arc::new(stop);
        let stop_seen = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("uevent-monitor".to_owned())
            .spawn(move || {
                while let Some(result) = self.next_until_stopped(stop_seen.as_fd()) {
                    let failed = result.is_err();
                    handler(result);
                    if failed {
                        break;
                    }
                }
            })
            .map_err(start_failed)?;
        Ok(MonitorThread {
            stop,
            thread: Some(thread),
        })
    }

    /// The next [`Received`], or `None` once `stop` is readable.
    fn next_until_stopped(&mut self, stop: BorrowedFd<'_>) -> Option<Result<Received, Error>> {
        loop {
            let mut fds = [
                PollFd::new(&self.socket, PollFlags::IN),
                PollFd::from_borrowed_fd(stop, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(errno) => {
                    return Some(Err(Error::ReceiveUevent {
                        source: errno.into(),
                    }))
                }
            }
            if !fds[1].revents().is_empty() {
                return None;
            }
            if fds[0].revents().is_empty() {
                continue;
            }
            match self.receive(RecvFlags::DONTWAIT) {
                Ok(Some(received)) => return Some(Ok(received)),
                Ok(None) => continue,
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// One `recvmsg`; `None` when it was interrupted, nothing was waiting or the message was
    /// passed over (see [`UeventMonitor::only_usb_devices`]).
    fn receive(&mut self, flags: RecvFlags) -> Result<Option<Received>, Error> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(&mut self.buffer)];
        // TRUNC: the length returned is the datagram's, even when it did not fit.
        let message = match recvmsg(
            &self.socket,
            &mut iov,
            &mut control,
            flags | RecvFlags::TRUNC,
        ) {
            Ok(message) => message,
            Err(Errno::INTR) | Err(Errno::AGAIN) => return Ok(None),
            Err(Errno::NOBUFS) => return Ok(Some(Received::Overflow)),
            Err(errno) => {
                return Err(Error::ReceiveUevent {
                    source: errno.into(),
                })
            }
        };
        let sender_uid = control.drain().find_map(|message| match message {
            RecvAncillaryMessage::ScmCredentials(credentials) => Some(credentials.uid.as_raw()),
            _ => None,
        });
        let sender = message
            .address
            .and_then(|address| SocketAddrNetlink::try_from(address).ok());
        let datagram = Datagram {
            len: message.bytes,
            truncated: message.flags.contains(ReturnFlags::TRUNC),
            bytes: self.buffer.get(..message.bytes).unwrap_or(&self.buffer),
            sender,
            sender_uid,
        };
        Ok(datagram.classify(self.usb_devices_only))
    }
}

impl std::fmt::Debug for UeventMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UeventMonitor")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl AsFd for UeventMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A running [`UeventMonitor`] thread; stopping or dropping it stops the thread and waits for it.
#[derive(Debug)]
pub struct MonitorThread {
    stop: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl MonitorThread {
    /// Stops the thread and waits for it to end (at most the time one handler call takes).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    /// Whether the thread still runs (it ends after a receive error).
    pub fn is_running(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if let Err(errno) = rustix::io::write(&*self.stop, &1u64.to_ne_bytes()) {
            // Only a counter overflow can fail here, and then the fd is readable anyway.
            log::debug!("cannot signal the uevent monitor thread to stop: {errno}");
        }
        if thread.join().is_err() {
            log::error!("the uevent monitor thread panicked");
        }
    }
}

impl Drop for MonitorThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// One datagram as `recvmsg` gave it, with what the kernel says about its sender.
struct Datagram<'a> {
    /// Its full length, even when it did not fit the buffer.
    len: usize,
    /// Whether it did not fit the buffer.
    truncated: bool,
    /// The part that fit.
    bytes: &'a [u8],
    /// The sender's netlink address.
    sender: Option<SocketAddrNetlink>,
    /// The sender's user id, from its credentials (`SCM_CREDENTIALS`).
    sender_uid: Option<u32>,
}

impl Datagram<'_> {
    /// The checks of systemd's sd-device monitor, in its order: length, sender, then content.
    /// `None` when `usb_devices_only` and the message is surely of something else.
    fn classify(&self, usb_devices_only: bool) -> Option<Received> {
        if self.truncated || self.len > MAX_MESSAGE_LEN {
            return Some(Received::Dropped(DropReason::Oversized { len: self.len }));
        }
        if let Err(reason) = check_sender(self.sender, self.sender_uid) {
            return Some(Received::Dropped(reason));
        }
        if usb_devices_only && !may_be_usb_device(self.bytes) {
            return None;
        }
        Some(match UeventMessage::parse(self.bytes) {
            Ok(message) => match message.usb_device() {
                Some(device) => Received::Device(device),
                None if usb_devices_only => return None,
                None => Received::Other(message),
            },
            Err(reason) => Received::Dropped(reason),
        })
    }
}

/// Accepts only multicast messages from the kernel or from a root process: the sender's address
/// names a group, a message on the kernel group comes from port 0, and the credentials say uid 0.
fn check_sender(sender: Option<SocketAddrNetlink>, uid: Option<u32>) -> Result<(), DropReason> {
    let sender = sender.ok_or(DropReason::NoSenderAddress)?;
    match sender.groups() {
        0 => return Err(DropReason::UnicastSender { port: sender.pid() }),
        KERNEL_GROUP if sender.pid() != 0 => {
            return Err(DropReason::ProcessOnKernelGroup { port: sender.pid() })
        }
        _ => {}
    }
    match uid.ok_or(DropReason::NoCredentials)? {
        0 => Ok(()),
        uid => Err(DropReason::NonRootSender { uid }),
    }
}

fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(duration.subsec_nanos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uevent::encode::encode_udev_message;

    fn root() -> Option<u32> {
        Some(0)
    }

    fn udev_group(port: u32) -> Option<SocketAddrNetlink> {
        Some(SocketAddrNetlink::new(port, UDEV_GROUP))
    }

    fn trusted(bytes: &[u8]) -> Datagram<'_> {
        Datagram {
            len: bytes.len(),
            truncated: false,
            bytes,
            sender: udev_group(4321),
            sender_uid: root(),
        }
    }

    #[test]
    fn root_multicast_on_the_udev_group_is_accepted() {
        assert_eq!(check_sender(udev_group(4321), root()), Ok(()));
    }

    #[test]
    fn unicast_messages_are_dropped() {
        let sender = Some(SocketAddrNetlink::new(4321, 0));
        assert_eq!(
            check_sender(sender, root()),
            Err(DropReason::UnicastSender { port: 4321 })
        );
    }

    #[test]
    fn a_process_on_the_kernel_group_is_dropped_and_the_kernel_is_not() {
        let process = Some(SocketAddrNetlink::new(4321, KERNEL_GROUP));
        assert_eq!(
            check_sender(process, root()),
            Err(DropReason::ProcessOnKernelGroup { port: 4321 })
        );
        let kernel = Some(SocketAddrNetlink::new(0, KERNEL_GROUP));
        assert_eq!(check_sender(kernel, root()), Ok(()));
    }

    #[test]
    fn messages_without_credentials_or_from_other_users_are_dropped() {
        assert_eq!(
            check_sender(udev_group(4321), None),
            Err(DropReason::NoCredentials)
        );
        assert_eq!(
            check_sender(udev_group(4321), Some(65534)),
            Err(DropReason::NonRootSender { uid: 65534 })
        );
        assert_eq!(check_sender(None, root()), Err(DropReason::NoSenderAddress));
    }

    #[test]
    fn a_truncated_datagram_is_dropped_as_oversized_with_its_real_length() {
        let bytes = encode_udev_message([("ACTION", "add")]);
        let datagram = Datagram {
            len: 9000,
            truncated: true,
            bytes: &bytes,
            sender: udev_group(4321),
            sender_uid: root(),
        };
        for usb_devices_only in [false, true] {
            assert_eq!(
                datagram.classify(usb_devices_only),
                Some(Received::Dropped(DropReason::Oversized { len: 9000 }))
            );
        }
    }

    #[test]
    fn a_trusted_datagram_is_parsed_and_filtered() {
        let usb = encode_udev_message([
            ("ACTION", "add"),
            ("DEVPATH", "/devices/pci0000:00/0000:00:14.0/usb3/3-6"),
            ("SUBSYSTEM", "usb"),
            ("DEVTYPE", "usb_device"),
            ("SEQNUM", "7"),
        ]);
        for usb_devices_only in [false, true] {
            let Some(Received::Device(device)) = trusted(&usb).classify(usb_devices_only) else {
                panic!("not a device event");
            };
            assert_eq!(device.kernel_name, "3-6");
        }
        let block = encode_udev_message([
            ("ACTION", "add"),
            ("DEVPATH", "/devices/virtual/block/loop0"),
            ("SUBSYSTEM", "block"),
            ("SEQNUM", "8"),
        ]);
        assert!(
            matches!(trusted(&block).classify(false), Some(Received::Other(message)) if message.subsystem == "block")
        );
        assert_eq!(
            trusted(&block).classify(true),
            None,
            "passed over when only USB devices are wanted"
        );
    }

    #[test]
    fn only_usb_devices_passes_over_exactly_what_is_no_usb_device() {
        let message = |subsystem: &str, devtype: Option<&str>, repeated: Option<&str>| {
            let mut properties = vec![
                ("ACTION", "add"),
                ("DEVPATH", "/devices/pci0000:00/0000:00:14.0/usb3/3-6"),
                ("SUBSYSTEM", subsystem),
            ];
            properties.extend(devtype.map(|devtype| ("DEVTYPE", devtype)));
            properties.extend(repeated.map(|subsystem| ("SUBSYSTEM", subsystem)));
            properties.push(("SEQNUM", "9"));
            [
                encode_udev_message(properties.iter().copied()),
                crate::uevent::encode::encode_kernel_message(properties.iter().copied()),
            ]
        };
        let cases = [
            message("usb", Some("usb_device"), None),
            message("usb", Some("usb_interface"), None),
            message("usb", None, None),
            message("input", None, None),
            message("usbmisc", Some("usb_device"), None),
            message("input", Some("usb_device"), Some("usb")),
            message("usb", Some("usb_device"), Some("input")),
        ];
        for bytes in cases.iter().flatten() {
            let all = trusted(bytes).classify(false);
            let only = trusted(bytes).classify(true);
            match all {
                Some(Received::Device(_)) => assert_eq!(only, all),
                _ => assert_eq!(only, None, "{:?}", String::from_utf8_lossy(bytes)),
            }
        }
    }
}
