"""Records every usb_device of the lab guest in the shape of `fixtures/data/real-devices/devices/`.

One folder per device, named after what it is and its kernel name:

    udevadm.txt          `udevadm info --query=all`, verbatim (its closing blank line left out)
    sysfs-attrs.txt      every readable attribute file of the device directory and of `power/`,
                         `name=value`, encoded as the real-devices README says
    sysfs-links.txt      the device directory's symlinks (`driver`, `port`, …) but `subsystem`
    descriptors.hex      the binary `descriptors` attribute, upper-case hex
    uevent.txt           the device's `uevent` file, verbatim (the old recordings only have it
                         reconstructed)
    udev-db.txt          udevd's record `/run/udev/data/c<major>:<minor>`, verbatim (with its I:
                         line: USEC_INITIALIZED, which the old recordings lack)
    interfaces/<name>/   each interface of the active configuration: its sysfs-attrs.txt,
                         sysfs-links.txt and uevent.txt
    source.txt           how and where it was recorded
"""

import os
import re
import subprocess


def encode(value):
    """A sysfs value with one trailing newline removed; `\\`, newline, tab, CR and other control bytes
    escaped (`\\xNN`, also for bytes that are not UTF-8); UTF-8 written as it is."""
    if value.endswith(b"\n"):
        value = value[:-1]
    text = value.decode("utf-8", errors="surrogateescape")
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return "".join(out)


def readable_attributes(directory, prefix=""):
    """(name, bytes) of each regular file of DIRECTORY that can be read, sorted by name."""
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path) or name in ("uevent", "descriptors"):
            continue
        try:
            with open(path, "rb") as file:
                found.append((prefix + name, file.read()))
        except OSError:  # write-only or refusing attributes (`remove`, some power files)
            continue
    return found


def links(directory):
    return [
        (name, os.readlink(os.path.join(directory, name)))
        for name in sorted(os.listdir(directory))
        if os.path.islink(os.path.join(directory, name)) and name != "subsystem"
    ]


def write_lines(path, pairs):
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as out:
        for name, value in pairs:
            out.write(f"{name}={value}\n")


def copy_file(source, destination):
    with open(source, "rb") as file:
        contents = file.read()
    with open(destination, "wb") as out:
        out.write(contents)


def folder_name(directory, kernel_name):
    product = ""
    if os.path.exists(os.path.join(directory, "product")):
        with open(os.path.join(directory, "product"), encoding="utf-8", errors="replace") as file:
            product = file.read().strip()
    with open(os.path.join(directory, "idVendor"), encoding="utf-8") as file:
        vendor = file.read().strip()
    with open(os.path.join(directory, "idProduct"), encoding="utf-8") as file:
        product_id = file.read().strip()
    slug = re.sub(r"[^a-z0-9]+", "-", product.lower()).strip("-") or "device"
    return f"{slug}-{vendor}-{product_id}-{kernel_name}"


def record_device(kernel_name, out_dir, source_lines):
    """Records one device below OUT_DIR; returns the folder name."""
    directory = os.path.realpath(f"/sys/bus/usb/devices/{kernel_name}")
    name = folder_name(directory, kernel_name)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder)
    udevadm = subprocess.run(
        ["udevadm", "info", "--query=all", f"--path={directory}"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    with open(os.path.join(folder, "udevadm.txt"), "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in udevadm.splitlines() if line))
    attributes = readable_attributes(directory) + readable_attributes(os.path.join(directory, "power"), "power/")
    write_lines(os.path.join(folder, "sysfs-attrs.txt"), [(key, encode(value)) for key, value in attributes])
    write_lines(os.path.join(folder, "sysfs-links.txt"), links(directory))
    with open(os.path.join(directory, "descriptors"), "rb") as file:
        descriptors = file.read()
    with open(os.path.join(folder, "descriptors.hex"), "w", encoding="utf-8") as out:
        out.write(descriptors.hex().upper() + "\n")
    copy_file(os.path.join(directory, "uevent"), os.path.join(folder, "uevent.txt"))
    with open(os.path.join(directory, "dev"), encoding="utf-8") as file:
        dev = file.read().strip()
    copy_file(f"/run/udev/data/c{dev}", os.path.join(folder, "udev-db.txt"))
    for entry in sorted(os.listdir(directory)):
        interface = os.path.join(directory, entry)
        if ":" not in entry or not os.path.exists(os.path.join(interface, "bInterfaceClass")):
            continue
        interface_folder = os.path.join(folder, "interfaces", entry)
        os.makedirs(interface_folder)
        write_lines(
            os.path.join(interface_folder, "sysfs-attrs.txt"),
            [(key, encode(value)) for key, value in readable_attributes(interface)],
        )
        write_lines(os.path.join(interface_folder, "sysfs-links.txt"), links(interface))
        copy_file(os.path.join(interface, "uevent"), os.path.join(interface_folder, "uevent.txt"))
    with open(os.path.join(folder, "source.txt"), "w", encoding="utf-8") as out:
        out.write(f"kernel name: {kernel_name}\ndevpath: {directory.removeprefix('/sys')}\ndev: {dev}\n")
        out.write("".join(line + "\n" for line in source_lines))
    return name


def record_all(kernel_names, out_dir, source_lines, device_lines):
    """Records each of KERNEL_NAMES; source.txt gets SOURCE_LINES and the device's DEVICE_LINES entry."""
    os.makedirs(out_dir, exist_ok=True)
    return [record_device(name, out_dir, device_lines.get(name, []) + source_lines) for name in kernel_names]
