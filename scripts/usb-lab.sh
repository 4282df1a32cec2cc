#!/usr/bin/env bash
# The USB lab: the daemon against a real kernel USB stack, real udevd events and real usb-host
# passthrough, on a machine without USB.
#
#   sudo scripts/usb-lab.sh [--only CHECK,CHECK] [--record-fixtures]
#
# It boots a stock Debian kernel under QEMU (TCG) with emulated USB devices on an xHCI controller
# (scripts/usb-lab/devices.py: a keyboard and a tablet with identical ids, a hub with a USB disk, a
# serial adapter and a smart-card reader behind it), with this machine's root shared read-only and
# tmpfs over /etc, /var, /tmp and /run (virtme-ng). Inside, udevd enumerates them, a libvirtd of the
# guest's own runs an inner TCG domain, and scripts/usb-lab/guest.py runs the checks with the
# release build of the daemon. Hot-plug requests of the guest are served here on the outer QEMU's
# QMP socket (scripts/usb-lab/qmp_server.py). It prints one line per check (PASS/FAIL/SKIP name:
# detail), the measured times, and `N passed, N failed, N skipped`; it exits 1 when a check failed.
#
# What it touches on this machine: it installs what is missing (apt: linux-image-amd64, udev,
# busybox-static, python3-libvirt, QEMU, libvirt, e2fsprogs; PyPI: virtme-ng into a virtual
# environment under target/usb-lab/venv; crates.io: libvirt-hotplug-usb 0.1.1, the race check's
# benchmark peer and no dependency of the project, with `cargo install` into target/usb-lab/peer,
# logged to target/usb-lab/peer-install.log; when that install fails, e.g. without a network, the
# race check reports SKIP and the lab goes on), builds target/release/libvirt-usb-hotplugd, and
# writes only below target/usb-lab/ (state/: the disk image; results/: everything the guest writes,
# the only directory it can write to). The host's own libvirtd is never contacted: the lab's
# libvirtd runs in the guest, on the guest's tmpfs /run. The udev package is installed with services
# kept from starting (no udevd runs on this machine).
#
# Bounded: USB_LAB_TIMEOUT (default 1800 s) for the whole script, USB_LAB_GUEST_TIMEOUT (default
# 900 s) for the guest; on any exit, the QEMU, virtme-ng and QMP server it started are stopped by
# PID. USB_LAB_ROUNDS (default 7) sets the rounds of the timing check, USB_LAB_RACE_ROUNDS (default
# 15: its medians compare sums dominated by the kernel's own configuration of the device, which
# scatters by +-30 ms a plug) those of the race check; USB_LAB_BINARY
# tests that binary instead of building one. --only runs the named checks only (the guest's setup
# and the recordings always); --record-fixtures copies the recordings of a passing run into
# fixtures/data/lab-devices/devices/.
#
# The kernel's KVM modules are kept out of the guest (module_blacklist): under TCG the guest CPU
# has SVM, and libvirtd would otherwise probe QEMU twice (KVM and TCG) before it answers.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_DIR
readonly LAB_DIR=${USB_LAB_DIR:-$REPO_DIR/target/usb-lab}
readonly RESULTS=$LAB_DIR/results
readonly STATE=$LAB_DIR/state
readonly TIMEOUT=${USB_LAB_TIMEOUT:-1800}
readonly GUEST_TIMEOUT=${USB_LAB_GUEST_TIMEOUT:-900}
readonly ROUNDS=${USB_LAB_ROUNDS:-7}
readonly RACE_ROUNDS=${USB_LAB_RACE_ROUNDS:-15}
readonly VIRTME_NG_VERSION=1.42
readonly PACKAGES=(linux-image-amd64 udev busybox-static python3-libvirt python3-venv e2fsprogs
    qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients pkg-config libvirt-dev)
readonly FIXTURES=$REPO_DIR/fixtures/data/lab-devices/devices
readonly BINARY=${USB_LAB_BINARY:-$REPO_DIR/target/release/libvirt-usb-hotplugd}
# The race check's peer (issue 16): another daemon that attaches on the kernel's add uevent, raced
# against this one in the same run. A benchmark peer only, installed into the lab's own directory.
readonly PEER_CRATE=libvirt-hotplug-usb
readonly PEER_VERSION=0.1.1
readonly PEER_ROOT=$LAB_DIR/peer
readonly PEER_BINARY=$PEER_ROOT/bin/$PEER_CRATE

log() { echo "usb-lab: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# The global bound: the script runs again under timeout(1), which stops it (and, through its process
# group, everything it started) when the time is up; the EXIT trap below still cleans up.
if [ -z "${USB_LAB_UNDER_TIMEOUT:-}" ]; then
    export USB_LAB_UNDER_TIMEOUT=1
    status=0
    timeout --kill-after=60 "$TIMEOUT" "${BASH_SOURCE[0]}" "$@" || status=$?
    if [ "$status" = 124 ]; then
        echo "FAIL usb-lab: not finished within USB_LAB_TIMEOUT=$TIMEOUT s"
        echo "0 passed, 1 failed"
    fi
    exit "$status"
fi

only=""
record_fixtures=0
while [ $# -gt 0 ]; do
    case $1 in
    --only)
        only=${2:?--only needs a list of checks}
        shift 2
        ;;
    --record-fixtures)
        record_fixtures=1
        shift
        ;;
    *) sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# *//; s/^/usage: /' >&2 && exit 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run it as root (it installs packages and boots a VM)"

install_packages() {
    local missing=() package guard=""
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q ' installed$' || missing+=("$package")
    done
    if [ ${#missing[@]} != 0 ]; then
        log "installing ${missing[*]}"
        # The udev package starts udevd on installation unless invoke-rc.d is told not to; this
        # machine must not get a udevd (the lab's runs in the guest).
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            guard=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\n# usb-lab.sh: no services started while it installs packages\nexit 101\n' >"$guard"
            chmod 0755 "$guard"
        fi
        local status=0
        {
            DEBIAN_FRONTEND=noninteractive apt-get update -q &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
        } >"$LAB_DIR/apt.log" 2>&1 || status=$?
        [ -z "$guard" ] || rm -f "$guard"
        [ "$status" = 0 ] || die "apt-get failed (see $LAB_DIR/apt.log)"
    fi
    if [ ! -x "$LAB_DIR/venv/bin/vng" ] || [ "$("$LAB_DIR/venv/bin/vng" --version 2>/dev/null)" != "virtme-ng $VIRTME_NG_VERSION" ]; then
        log "installing virtme-ng $VIRTME_NG_VERSION into $LAB_DIR/venv"
        /usr/bin/python3 -m venv "$LAB_DIR/venv"
        "$LAB_DIR/venv/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION" >"$LAB_DIR/pip.log" 2>&1 ||
            die "pip failed (see $LAB_DIR/pip.log)"
    fi
}

# Sets peer (the peer's binary, or empty) and peer_error (why there is none). A failed install is no
# failure of the lab: the guest's race check then reports SKIP with peer_error.
peer=""
peer_error=""
install_peer() {
    if [ -n "$only" ] && [[ ",$only," != *,race,* ]]; then
        peer_error="not installed: --only $only has no race check"
        return 0
    fi
    if [ -x "$PEER_BINARY" ] && [ "$("$PEER_BINARY" --version 2>/dev/null)" = "$PEER_CRATE $PEER_VERSION" ]; then
        peer=$PEER_BINARY
        return 0
    fi
    log "installing $PEER_CRATE $PEER_VERSION (the race check's peer) into $PEER_ROOT"
    if cargo install --locked "$PEER_CRATE" --version "$PEER_VERSION" --root "$PEER_ROOT" -j2 \
        >"$LAB_DIR/peer-install.log" 2>&1 </dev/null &&
        [ "$("$PEER_BINARY" --version 2>/dev/null)" = "$PEER_CRATE $PEER_VERSION" ]; then
        peer=$PEER_BINARY
    else
        peer_error="cargo install $PEER_CRATE $PEER_VERSION failed: $(tail -n 1 "$LAB_DIR/peer-install.log" 2>/dev/null || true)"
        log "$peer_error (see $LAB_DIR/peer-install.log); the race check will be skipped"
    fi
}

# The newest installed kernel whose modules are there too.
find_kernel() {
    local image version found=""
    for image in /boot/vmlinuz-*; do
        version=${image#/boot/vmlinuz-}
        [ -d "/lib/modules/$version" ] && found=$version
    done
    [ -n "$found" ] || die "no /boot/vmlinuz-* with modules in /lib/modules"
    echo "$found"
}

qemu_pid_file=""
vng_pid=""
server_pid=""
socket_dir=""
cleanup() {
    local pid
    pid=$(cat "$qemu_pid_file" 2>/dev/null || true)
    stop_pid "$pid" qemu-system-x86
    stop_pid "$vng_pid" ""
    stop_pid "$server_pid" ""
    [ -z "$socket_dir" ] || rm -rf "$socket_dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# Stops PID (when it still runs and, if NAME is given, is NAME): SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 tries
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
    if [ -n "$name" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]; then return 0; fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((tries = 100; tries > 0; tries--)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid ignored SIGTERM for 10 s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

run_guest() {
    local kernel=$1 qemu_options started deadline status=0
    socket_dir=$(mktemp -d /tmp/usb-lab.XXXXXX)
    qemu_pid_file=$socket_dir/qemu.pid
    qemu_options="$(/usr/bin/python3 "$REPO_DIR/scripts/usb-lab/devices.py" qemu-options "$STATE" "$RESULTS")"
    qemu_options+=" -qmp unix:$socket_dir/qmp.sock,server=on,wait=off -pidfile $qemu_pid_file"
    /usr/bin/python3 - "$RESULTS/lab.json" "$BINARY" "$peer" "$peer_error" "$ROUNDS" "$RACE_ROUNDS" "$only" "$(qemu-system-x86_64 --version | head -1)" <<'EOF'
import json, sys
path, binary, peer, peer_error, rounds, race_rounds, only, qemu = sys.argv[1:]
json.dump({"binary": binary, "peer": peer, "peer_error": peer_error, "rounds": int(rounds),
           "race_rounds": int(race_rounds),
           "only": [n for n in only.split(",") if n], "qemu_version": qemu}, open(path, "w"))
EOF
    cat /proc/loadavg >"$RESULTS/loadavg"
    started=$(date +%s.%N)
    deadline=$(python3 -c "print($started + $GUEST_TIMEOUT)")
    log "booting the lab guest (kernel $kernel, TCG); the guest's output goes to $RESULTS/console.log"
    PATH=$LAB_DIR/venv/bin:$PATH timeout --kill-after=30 "$GUEST_TIMEOUT" \
        vng --verbose -r "/boot/vmlinuz-$kernel" --disable-kvm --disable-microvm --force-9p --cpus 2 \
        --memory 2G --append "module_blacklist=kvm,kvm_amd,kvm_intel" \
        --rwdir="$RESULTS" --qemu-opts="$qemu_options" \
        -- /usr/bin/python3 "$REPO_DIR/scripts/usb-lab/guest.py" "$RESULTS" \
        </dev/null >"$RESULTS/console.log" 2>&1 &
    vng_pid=$!
    /usr/bin/python3 "$REPO_DIR/scripts/usb-lab/qmp_server.py" "$socket_dir/qmp.sock" "$RESULTS" "$deadline" &
    server_pid=$!
    wait "$vng_pid" || status=$?
    vng_pid=""
    wait "$server_pid" || log "the QMP server stopped with status $? (see $RESULTS/qmp.log)"
    server_pid=""
    cat /proc/loadavg >>"$RESULTS/loadavg"
    log "the guest ran $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s (vng exit status $status)"
}

# Prints every check line, the missing ones as FAIL, the times, and the closing count; fails when a
# check failed.
report() {
    /usr/bin/python3 "$REPO_DIR/scripts/usb-lab/report.py" "$RESULTS"
}

main() {
    mkdir -p "$LAB_DIR" "$STATE"
    install_packages
    local kernel
    kernel=$(find_kernel)
    install_peer
    if [ -z "${USB_LAB_BINARY:-}" ]; then
        log "building the daemon (release profile: the times are the binary users run)"
        (cd "$REPO_DIR" && cargo build --release -q -p hotplugd --bin libvirt-usb-hotplugd -j2)
    fi
    [ -x "$BINARY" ] || die "no daemon binary at $BINARY"
    rm -rf "$RESULTS"
    mkdir -p "$RESULTS"
    # The USB disk: a small ext2 file system, read-only to the guest.
    rm -f "$STATE/disk.img"
    mke2fs -q -F -t ext2 -L LABDISK "$STATE/disk.img" 8M >/dev/null
    run_guest "$kernel"
    local status=0
    report || status=$?
    if [ "$status" = 0 ] && [ "$record_fixtures" = 1 ]; then
        rm -rf "$FIXTURES"
        mkdir -p "$(dirname "$FIXTURES")"
        cp -r "$RESULTS/recordings" "$FIXTURES"
        log "recordings copied to $FIXTURES"
    fi
    return "$status"
}

main
