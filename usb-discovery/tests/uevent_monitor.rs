//! The monitor on a real netlink socket. Each test re-runs itself in a child process under
//! `unshare -n` (a private network namespace, see `fixtures::netns`), so the events it injects
//! reach nothing else on the machine. It needs root and util-linux's `unshare`; without them it
//! fails, unless `HOTPLUGD_SKIP_NETNS_TESTS=1` is set.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use fixtures::netns::in_private_network_namespace;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    getsockname, sendmsg_addr, sendto, socket_with, AddressFamily, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType, UCred,
};
use rustix::process::{getpid, Gid, Uid};
use usb_discovery::{
    encode_kernel_message, encode_udev_message, DropReason, MessageSource, Received, UeventAction,
    UeventMonitor, UeventSender,
};

/// The bound on every wait for an event that was sent.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for an event that must not come, once every earlier one arrived.
const QUIET: Duration = Duration::from_millis(200);

fn usb_add(devtype: &str, devpath: &str, seqnum: &str) -> Vec<u8> {
    encode_udev_message([
        ("ACTION", "add"),
        ("DEVPATH", devpath),
        ("SUBSYSTEM", "usb"),
        ("DEVTYPE", devtype),
        ("SEQNUM", seqnum),
        ("BUSNUM", "003"),
        ("DEVNUM", "005"),
        ("ID_VENDOR_ID", "046d"),
    ])
}

const DEVICE: &str = "/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3";
const INTERFACE: &str = "/devices/pci0000:00/0000:00:14.0/usb3/3-6/3-6.3/3-6.3:1.0";

fn next(monitor: &mut UeventMonitor) -> Received {
    monitor
        .recv_timeout(WAIT)
        .expect("receive")
        .unwrap_or_else(|| panic!("no message within {WAIT:?}"))
}

fn assert_quiet(monitor: &mut UeventMonitor) {
    let extra = monitor.recv_timeout(QUIET).expect("receive");
    assert_eq!(extra, None, "a message nobody sent");
}

fn raw_socket() -> OwnedFd {
    socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(netlink::KOBJECT_UEVENT),
    )
    .expect("netlink socket")
}

fn port_of(socket: impl AsFd) -> u32 {
    let address = getsockname(socket).expect("getsockname");
    SocketAddrNetlink::try_from(address)
        .expect("a netlink address")
        .pid()
}

#[test]
fn only_usb_device_events_come_through_as_devices() {
    in_private_network_namespace("only_usb_device_events_come_through_as_devices", || {
        let mut monitor = UeventMonitor::open().expect("open the monitor");
        let sender = UeventSender::open().expect("open the sender");
        sender
            .send(&usb_add("usb_interface", INTERFACE, "10"))
            .expect("send");
        sender
            .send(&encode_udev_message([
                ("ACTION", "add"),
                ("DEVPATH", "/devices/virtual/block/loop0"),
                ("SUBSYSTEM", "block"),
                ("DEVTYPE", "disk"),
                ("SEQNUM", "11"),
            ]))
            .expect("send");
        sender
            .send(&usb_add("usb_device", DEVICE, "12"))
            .expect("send");

        let Received::Other(interface) = next(&mut monitor) else {
            panic!("the interface event is not Other");
        };
        assert_eq!(interface.devtype.as_deref(), Some("usb_interface"));
        let Received::Other(block) = next(&mut monitor) else {
            panic!("the block event is not Other");
        };
        assert_eq!(block.subsystem, "block");
        let Received::Device(device) = next(&mut monitor) else {
            panic!("the usb_device event is not a Device");
        };
        assert_eq!(device.action, UeventAction::Add);
        assert_eq!(device.kernel_name, "3-6.3");
        assert_eq!(device.devpath, DEVICE);
        assert_eq!(
            (device.bus, device.device, device.seqnum),
            (Some(3), Some(5), 12)
        );
        assert_eq!(device.property("ID_VENDOR_ID"), Some("046d"));
        assert!(matches!(device.source, MessageSource::Udev(_)));
        assert_quiet(&mut monitor);

        // The kernel's format, multicast by root to the same group, is read too.
        let kernel = encode_kernel_message([
            ("ACTION", "remove"),
            ("DEVPATH", DEVICE),
            ("SUBSYSTEM", "usb"),
            ("DEVTYPE", "usb_device"),
            ("SEQNUM", "13"),
        ]);
        sender.send(&kernel).expect("send");
        let Received::Device(removed) = next(&mut monitor) else {
            panic!("the kernel-format event is not a Device");
        };
        assert_eq!(removed.action, UeventAction::Remove);
        assert_eq!(removed.source, MessageSource::Kernel);
    });
}

#[test]
fn messages_from_untrusted_senders_are_dropped() {
    in_private_network_namespace("messages_from_untrusted_senders_are_dropped", || {
        let mut monitor = UeventMonitor::open().expect("open the monitor");
        let message = usb_add("usb_device", DEVICE, "20");

        // Unicast straight to the monitor's port, by root.
        let unicast = raw_socket();
        let to_monitor = SocketAddrNetlink::new(port_of(&monitor), 0);
        sendto(&unicast, &message, SendFlags::empty(), &to_monitor).expect("unicast");
        assert_eq!(
            next(&mut monitor),
            Received::Dropped(DropReason::UnicastSender {
                port: port_of(&unicast)
            })
        );

        // Multicast to udev's group with the credentials of uid 65534 (root may claim them).
        let multicast = raw_socket();
        let nobody = UCred {
            pid: getpid(),
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmCredentials(nobody)));
        sendmsg_addr(
            &multicast,
            &SocketAddrNetlink::new(0, 2),
            &[IoSlice::new(&message)],
            &mut control,
            SendFlags::empty(),
        )
        .expect("multicast as uid 65534");
        assert_eq!(
            next(&mut monitor),
            Received::Dropped(DropReason::NonRootSender { uid: 65534 })
        );

        // Root's message still comes through after them.
        UeventSender::open()
            .expect("open the sender")
            .send(&message)
            .expect("send");
        assert!(matches!(next(&mut monitor), Received::Device(device) if device.seqnum == 20));
        assert_quiet(&mut monitor);
    });
}

#[test]
fn malformed_messages_are_dropped_with_their_reason() {
    in_private_network_namespace("malformed_messages_are_dropped_with_their_reason", || {
        let mut monitor = UeventMonitor::open().expect("open the monitor");
        let sender = UeventSender::open().expect("open the sender");
        let mut wrong_magic = usb_add("usb_device", DEVICE, "30");
        wrong_magic[8..12].copy_from_slice(&0xcafe_feedu32.to_be_bytes());
        sender.send(&wrong_magic).expect("send");
        assert_eq!(
            next(&mut monitor),
            Received::Dropped(DropReason::WrongMagic { found: 0xcafe_feed })
        );
        let oversized = encode_udev_message([("ID_MODEL", "x".repeat(10_000).as_str())]);
        sender.send(&oversized).expect("send");
        assert_eq!(
            next(&mut monitor),
            Received::Dropped(DropReason::Oversized {
                len: oversized.len()
            })
        );
    });
}

#[test]
fn an_overflow_is_reported_and_the_monitor_goes_on() {
    in_private_network_namespace("an_overflow_is_reported_and_the_monitor_goes_on", || {
        // The smallest buffer the kernel allows holds a few messages: 64 overflow it.
        let mut monitor = UeventMonitor::open_with_receive_buffer(0).expect("open the monitor");
        let sender = UeventSender::open().expect("open the sender");
        let burst = 64;
        for seqnum in 0..burst {
            sender
                .send(&usb_add("usb_device", DEVICE, &seqnum.to_string()))
                .expect("send");
        }
        let mut overflows = 0;
        let mut devices = 0;
        while let Some(received) = monitor.recv_timeout(QUIET).expect("receive") {
            match received {
                Received::Overflow => overflows += 1,
                Received::Device(_) => devices += 1,
                other => panic!("unexpected {other:?}"),
            }
            assert!(overflows + devices <= burst, "more messages than were sent");
        }
        assert_eq!(overflows, 1, "{devices} devices received");
        assert!(devices < burst, "all {devices} fit: no overflow happened");

        sender
            .send(&usb_add("usb_device", DEVICE, "1000"))
            .expect("send");
        assert!(matches!(next(&mut monitor), Received::Device(device) if device.seqnum == 1000));
    });
}

#[test]
fn the_monitor_thread_hands_over_events_and_stops() {
    in_private_network_namespace("the_monitor_thread_hands_over_events_and_stops", || {
        let monitor = UeventMonitor::open().expect("open the monitor");
        let (events, received) = mpsc::channel();
        let thread = monitor
            .spawn(move |result| {
                let _ = events.send(result.map_err(|error| error.to_string()));
            })
            .expect("start the thread");
        UeventSender::open()
            .expect("open the sender")
            .send(&usb_add("usb_device", DEVICE, "40"))
            .expect("send");
        let event = received
            .recv_timeout(WAIT)
            .expect("an event within the bound");
        assert!(matches!(event, Ok(Received::Device(device)) if device.seqnum == 40));
        assert!(thread.is_running());
        thread.stop();
        // The thread ended and dropped its handler, which closes the channel.
        assert_eq!(
            received.recv_timeout(WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    });
}
