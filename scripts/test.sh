#!/usr/bin/env bash
# Runs every test of libvirt-usb-hotplugd: formatting, lints, and the whole test suite, including
# the tests against a real libvirtd + QEMU/KVM guest.
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
# HOTPLUGD_SKIP_LIBVIRT_TESTS=1 (they then print that they were skipped). The package checks need
# root too; HOTPLUGD_SKIP_PACKAGE_TESTS=1 leaves them out.
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
