#!/usr/bin/env bash
# Runs every test of libvirt-usb-hotplugd: formatting, lints, and the whole test suite, including
# the tests against a real libvirtd + QEMU/KVM guest, then (as root) the USB lab: the daemon against
# a real kernel USB stack in a TCG guest (scripts/usb-lab.sh; about 7-12 minutes: 6-9 for the
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
#
# Whatever was skipped is summed up at the end, pass or fail (`== skipped: ...`): each test that
# opted out appends its name to target/skipped-tests.txt (fixtures::skip), and the lab's skipped
# checks and the parts left out are added. CI (.ci/run) refuses every HOTPLUGD_SKIP_* variable.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p target
export HOTPLUGD_SKIPPED_TESTS=$PWD/target/skipped-tests.txt
: >"$HOTPLUGD_SKIPPED_TESTS"
lab_output=$PWD/target/usb-lab-output.txt
rm -f "$lab_output"
left_out=()
state_dir=

# The skip summary: every test that said it was skipped, by the variable that made it, and every
# part of the run that was left out.
summarize_skips() {
    local tests variable count names
    tests=$(grep -c . "$HOTPLUGD_SKIPPED_TESTS" 2>/dev/null || true)
    if [ -f "$lab_output" ]; then
        count=$(sed -n 's/^[0-9]* passed, [0-9]* failed, \([0-9]*\) skipped$/\1/p' "$lab_output" | tail -n 1)
        [ "${count:-0}" = 0 ] || left_out+=("$count USB lab check(s) (SKIP lines above)")
    fi
    if [ "${tests:-0}" = 0 ] && [ ${#left_out[@]} -eq 0 ]; then
        echo "== skipped: nothing"
        return
    fi
    echo "== skipped: ${tests:-0} real test(s), and ${#left_out[@]} part(s) of the run"
    for variable in $(cut -f2 "$HOTPLUGD_SKIPPED_TESTS" | sort -u); do
        names=$(awk -F'\t' -v v="$variable" '$2 == v { print $1 }' "$HOTPLUGD_SKIPPED_TESTS" | sort -u)
        echo "   $variable=1: $(echo "$names" | grep -c .) test(s) that need $(awk -F'\t' -v v="$variable" '$2 == v { print $3; exit }' "$HOTPLUGD_SKIPPED_TESTS"):"
        echo "$names" | sed 's/^/     /'
    done
    for part in "${left_out[@]}"; do
        echo "   $part"
    done
}

finish() {
    local status=$?
    summarize_skips
    if [ -n "$state_dir" ]; then
        scripts/libvirt-env.sh stop "$state_dir"
    fi
    exit "$status"
}
trap finish EXIT

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
    left_out+=("the Debian package checks (HOTPLUGD_SKIP_PACKAGE_TESTS=1)")
fi
echo "== cargo test"
cargo test --workspace --all-features -j2
if [ "$(id -u)" != 0 ]; then
    echo "== USB lab: skipped, it needs root (sudo scripts/usb-lab.sh)"
    left_out+=("the USB lab (it needs root)")
elif [ "${HOTPLUGD_SKIP_USB_LAB:-}" = 1 ]; then
    echo "== USB lab: skipped (HOTPLUGD_SKIP_USB_LAB=1)"
    left_out+=("the USB lab (HOTPLUGD_SKIP_USB_LAB=1)")
else
    echo "== USB lab (scripts/usb-lab.sh)"
    scripts/usb-lab.sh 2>&1 | tee "$lab_output"
fi
