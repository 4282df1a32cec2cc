#!/usr/bin/env bash
# Builds libvirt-usb-hotplugd and shows what it would attach where, and why, on the bundled demo
# host (examples/demo/root: eight real USB devices recorded on real machines) with four VMs in a
# libvirt test-driver node (examples/demo/libvirt-node.xml), without root, libvirtd or USB hardware.
# Other commands: scripts/demo.sh list, scripts/demo.sh run --once --dry-run examples/demo/config.yml
#
# The binary links libvirt: on a fresh Debian/Ubuntu machine the build dependencies (pkg-config and
# libvirt-dev) are installed first, through sudo when not run as root. The demo itself needs no
# root. Extra arguments replace the default command.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pkg-config --exists libvirt 2>/dev/null; then
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "demo: pkg-config and libvirt-dev are missing; install them as root: apt-get install pkg-config libvirt-dev" >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    echo "demo: installing the build dependencies (pkg-config, libvirt-dev)" >&2
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config libvirt-dev >/dev/null
fi

if [ $# -eq 0 ]; then
    set -- explain examples/demo/config.yml
fi
cargo build -q --release --bin libvirt-usb-hotplugd
exec target/release/libvirt-usb-hotplugd --root examples/demo/root \
    --libvirt-uri "test:///$PWD/examples/demo/libvirt-node.xml" "$@"
