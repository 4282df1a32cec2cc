#!/usr/bin/env bash
# Runs every test of libvirt-usb-hotplugd: formatting, lints, and the whole test suite, including
# the tests against a real libvirtd + QEMU/KVM guest, then (as root) the USB lab: the daemon against
# a real kernel USB stack in a TCG guest (scripts/usb-lab.sh; about 6-10 minutes: 5-7 for the
# guest, and on a new machine the kernel package and the release build). A failed lab check fails
# the run.
#
# As root on a fresh Debian/Ubuntu machine it first installs what the build and the tests need
# (pkg-config, libvirt-dev, libvirt-daemon, QEMU; see scripts/libvirt-env.sh), starts virtlogd and
# libvirtd with a tiny test guest, and stops them again by PID when the tests end, pass or fail.
#
# As root it also builds the Debian package (scripts/package.sh) and checks it by installing and
# removing it on this machine (scripts/check-package.sh, which says what it checks); it refuses
# where libvirt-usb-hotplugd is already installed.
#
# Not root: the libvirt tests need a libvirtd you started (scripts/libvirt-env.sh start DIR, as
# root) and HOTPLUGD_TEST_LIBVIRT_URI set; or opt out of them explicitly with
# HOTPLUGD_SKIP_LIBVIRT_TESTS=1 (they then print that they were skipped). The lab and the package
# checks need root; as root, HOTPLUGD_SKIP_USB_LAB=1 and HOTPLUGD_SKIP_PACKAGE_TESTS=1 leave them out
# (and say so).
set -euo pipefail
cd "$(dirname "$0")/.."

package_tests=yes
if [ "${HOTPLUGD_SKIP_PACKAGE_TESTS:-}" = 1 ]; then
    package_tests=no
elif [ "$(id -u)" != 0 ]; then
    echo "test: the package checks install the package and need root; run as root, or set HOTPLUGD_SKIP_PACKAGE_TESTS=1" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    scripts/libvirt-env.sh install
    if [ "${HOTPLUGD_SKIP_LIBVIRT_TESTS:-}" != 1 ] && [ -z "${HOTPLUGD_TEST_LIBVIRT_URI:-}" ]; then
        state_dir=$(mktemp -d /tmp/hotplugd-libvirt.XXXXXX)
        trap 'scripts/libvirt-env.sh stop "$state_dir"' EXIT
        eval "$(scripts/libvirt-env.sh start "$state_dir")"
    fi
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features -j2 -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -j2
echo "== libvirt-sync without libvirt"
if cargo tree -p libvirt-sync --no-default-features --edges normal | grep -qE '[ -]virt v'; then
    echo "libvirt-sync links the virt crate without its libvirt feature" >&2
    exit 1
fi
cargo test -p libvirt-sync --no-default-features -j2
if [ "$package_tests" = yes ]; then
    echo "== Debian package: scripts/package.sh, then scripts/check-package.sh"
    started=$SECONDS
    deb=$(scripts/package.sh)
    scripts/check-package.sh "$deb"
    echo "== Debian package built and checked in $((SECONDS - started)) s"
else
    echo "== Debian package: skipped (HOTPLUGD_SKIP_PACKAGE_TESTS=1)"
fi
echo "== cargo test"
cargo test --workspace --all-features -j2
if [ "$(id -u)" != 0 ]; then
    echo "== USB lab: skipped, it needs root (sudo scripts/usb-lab.sh)"
elif [ "${HOTPLUGD_SKIP_USB_LAB:-}" = 1 ]; then
    echo "== USB lab: skipped (HOTPLUGD_SKIP_USB_LAB=1)"
else
    echo "== USB lab (scripts/usb-lab.sh)"
    scripts/usb-lab.sh
fi
