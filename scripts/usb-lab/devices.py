#!/usr/bin/env python3
"""The lab's emulated USB devices: one table for the host (QEMU options) and the guest (scenarios).

All sit on one xHCI controller (`qemu-xhci`, id `xhci`; its USB 2 root hub is the guest's `usb1`).
The keyboard and the tablet have identical ids (0627:0001) and no serial: only their ports tell them
apart. The hub (0409:55aa) holds a USB disk, a serial adapter and a smart-card reader. Root port 4
stays free for the devices a scenario hot-plugs.

    devices.py qemu-options STATE_DIR RESULTS_DIR   # prints the outer QEMU's device options
"""

import sys

# (QEMU id, kernel name in the guest, what it is, the -device option without bus/port/id)
FIXED = [
    ("lab-kbd", "1-1", "keyboard", "usb-kbd"),
    ("lab-tablet", "1-2", "tablet", "usb-tablet"),
    ("lab-hub", "1-3", "hub", "usb-hub"),
    ("lab-disk", "1-3.1", "disk", "usb-storage,drive=lab-disk-drive,serial=LAB-DISK-1"),
    ("lab-serial", "1-3.2", "serial adapter", "usb-serial,chardev=lab-serial-out"),
    ("lab-ccid", "1-3.3", "smart-card reader", "usb-ccid"),
]

# The free root port for hot-plugged devices, and its kernel name in the guest.
HOTPLUG_PORT = "4"
HOTPLUG_KERNEL_NAME = "1-4"

KEYBOARD_IDS = (0x0627, 0x0001)
DISK_IDS = (0x46F4, 0x0001)


def port_of(kernel_name):
    """QEMU's port path of a kernel name on bus 1: `1-3.1` -> `3.1`."""
    return kernel_name.split("-", 1)[1]


def by_role(role):
    """The kernel name of the fixed device that is ROLE."""
    return next(name for _id, name, what, _option in FIXED if what == role)


def qemu_options(state_dir, results_dir):
    """The devices' QEMU options. The disk image is the host's, read-only; the serial adapter's
    output (nothing, in practice) goes to a file in the results directory."""
    options = [
        "-device qemu-xhci,id=xhci",
        f"-drive if=none,id=lab-disk-drive,format=raw,readonly=on,file={state_dir}/disk.img",
        f"-chardev file,id=lab-serial-out,path={results_dir}/usb-serial.out",
    ]
    for device_id, kernel_name, _what, option in FIXED:
        options.append(f"-device {option},bus=xhci.0,port={port_of(kernel_name)},id={device_id}")
    return " ".join(options)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "qemu-options":
        print(qemu_options(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
