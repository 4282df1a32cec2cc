//! Injects uevent messages into udev's netlink group, as udevd does: for tests of the monitor and
//! of the daemon, run as root inside a private network namespace (`unshare -n`).

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{sendto, socket_with, AddressFamily, SendFlags, SocketFlags, SocketType};

use super::monitor::UDEV_GROUP;
use crate::Error;

/// A `NETLINK_KOBJECT_UEVENT` socket that multicasts messages to udev's group (2), where every
/// [`UeventMonitor`](crate::UeventMonitor) of the same network namespace receives them.
///
/// Sending to a netlink group needs `CAP_NET_ADMIN` (root). The kernel attaches the sender's
/// credentials, so a monitor sees who sent the message. Events sent inside a private network
/// namespace stay in it.
#[derive(Debug)]
pub struct UeventSender {
    socket: OwnedFd,
}

impl UeventSender {
    /// Opens the socket (the kernel binds it to a port on the first send).
    pub fn open() -> Result<UeventSender, Error> {
        let socket = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::KOBJECT_UEVENT),
        )
        .map_err(|errno| Error::OpenUeventSender {
            source: errno.into(),
        })?;
        Ok(UeventSender { socket })
    }

    /// Sends one message, as built by [`encode_udev_message`](crate::encode_udev_message) (or
    /// [`encode_kernel_message`](crate::encode_kernel_message)), to udev's group.
    pub fn send(&self, message: &[u8]) -> Result<(), Error> {
        let group = SocketAddrNetlink::new(0, UDEV_GROUP);
        match sendto(&self.socket, message, SendFlags::empty(), &group) {
            // As udevd does: the multicast went out; ECONNREFUSED only says that no socket took
            // the copy addressed to port 0.
            Ok(_) | Err(Errno::CONNREFUSED) => Ok(()),
            Err(errno) => Err(Error::SendUevent {
                source: errno.into(),
            }),
        }
    }
}
