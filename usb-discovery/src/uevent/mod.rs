//! udev's netlink events: a pure parser of both message formats, the monitor socket, and the
//! encoders and sender that tests use to inject synthetic events.
//!
//! * [`UeventMessage::parse`] reads one datagram in udev's format (`libudev\0`, magic `0xfeedcafe`,
//!   a 40-byte header, `KEY=value\0` properties) or the kernel's (`action@devpath\0KEY=value\0…`).
//!   Bad input is a [`DropReason`], never a panic; every offset is checked.
//! * [`UeventMessage::usb_device`] keeps `SUBSYSTEM=usb` + `DEVTYPE=usb_device` events as
//!   [`UsbUevent`]s, whose kernel name is the port.
//! * [`UeventMonitor`] receives on udev's netlink group (2), accepting only what root or the kernel
//!   multicast in this network namespace; [`UeventMonitor::spawn`] runs it on a thread.
//! * With the `testing` feature: `encode_udev_message`, `encode_kernel_message` and
//!   `UeventSender` build and inject messages exactly as udevd and the kernel write them, and the
//!   header constants are public, for tests.

#[cfg(any(test, feature = "testing"))]
mod encode;
mod message;
mod monitor;
#[cfg(feature = "testing")]
mod sender;

#[cfg(feature = "testing")]
pub use encode::{encode_kernel_message, encode_udev_message};
pub use message::{
    may_be_usb_device, DropReason, MessageSource, UdevHeader, UeventAction, UeventMessage,
    UsbUevent, MAX_MESSAGE_LEN,
};
#[cfg(feature = "testing")]
pub use message::{UDEV_HEADER_LEN, UDEV_MONITOR_MAGIC};
pub use monitor::{MonitorThread, Received, UeventMonitor};
#[cfg(feature = "testing")]
pub use sender::UeventSender;
