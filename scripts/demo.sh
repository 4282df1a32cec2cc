#!/usr/bin/env bash
# Builds libvirt-usb-hotplugd and shows what it would attach where, and why, on the bundled demo
# host (examples/demo/root: eight real USB devices recorded on real machines) with four VMs in a
# libvirt test-driver node (examples/demo/libvirt-node.xml), without root, libvirtd or USB hardware.
# Other commands: scripts/demo.sh list, scripts/demo.sh run --once --dry-run examples/demo/config.yml
#
# On a fresh Debian/Ubuntu machine, run as root once so that it can install the build dependencies
# (pkg-config and libvirt-dev: the binary links libvirt). Extra arguments replace the default command.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! pkg-config --exists libvirt 2>/dev/null; then
    if [ "$(id -u)" != 0 ]; then
        echo "demo: libvirt-dev is missing; run this once as root, or: apt-get install pkg-config libvirt-dev" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config libvirt-dev >/dev/null
fi

if [ $# -eq 0 ]; then
    set -- explain examples/demo/config.yml
fi
cargo build -q --release --bin libvirt-usb-hotplugd
exec target/release/libvirt-usb-hotplugd --root examples/demo/root \
    --libvirt-uri "test:///$PWD/examples/demo/libvirt-node.xml" "$@"
