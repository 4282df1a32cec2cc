#!/usr/bin/env bash
# The real libvirtd + QEMU/KVM environment of the libvirt tests (libvirt-sync/tests/libvirt_real.rs).
# How and why, below the usage.
#
#   scripts/libvirt-env.sh install          # as root: install libvirt + QEMU if anything is missing
#   scripts/libvirt-env.sh start STATE_DIR  # as root: start virtlogd, libvirtd and the test guests
#   scripts/libvirt-env.sh stop STATE_DIR   # as root: remove the guests, stop what start started
#   scripts/libvirt-env.sh restart-libvirtd STATE_DIR  # as root: start libvirtd again after it died
#
# `start` prints the environment for the tests on stdout (everything else goes to stderr):
#   eval "$(scripts/libvirt-env.sh start /tmp/hotplugd-libvirt)"
#
# What `start` does, in place of Debian's libvirt-daemon-system (which would pull in systemd):
# * creates /var/log/libvirt and /var/lib/libvirt, the groups `kvm` and `libvirt-qemu`, the system
#   user `libvirt-qemu` (in `kvm`), and gives /dev/kvm to group `kvm` with mode 0660;
# * starts `virtlogd -d`, then `libvirtd -d`. Where the host has no USB subsystem (no
#   /sys/bus/usb/devices, as in containers), libvirtd runs in a private mount namespace whose
#   /sys/bus is a tmpfs holding bind mounts of every real /sys/bus entry plus an empty
#   `usb/devices`: there, a USB hostdev with startupPolicy='optional' whose device is absent can be
#   attached live. QEMU inherits the namespace; clients use /run/libvirt/libvirt-sock as usual;
# * waits (bounded) until `virsh -c qemu:///system uri` answers;
# * (re)defines and starts the guest `hotplugd-test` (KVM, or TCG without /dev/kvm) and (re)defines
#   the guest `hotplugd-test-off`, left shut off, from libvirt-sync/tests/data/test-guest.xml.in;
# * records the PIDs of the daemons in STATE_DIR (virtlogd.pid, libvirtd.pid); logs go to
#   STATE_DIR/libvirtd.log.
#
# Re-runs: daemons recorded in STATE_DIR and still alive are reused; daemons started by an earlier
# run of this script with another STATE_DIR (they carry HOTPLUGD_LIBVIRT_ENV in their environment)
# are adopted, i.e. recorded in this STATE_DIR so that `stop` stops them. A libvirtd or virtlogd
# that this script did not start is never touched: `start` stops with an error instead. One
# environment per machine: the guests' names and libvirtd's socket are fixed.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_DIR
readonly GUEST_TEMPLATE=$REPO_DIR/libvirt-sync/tests/data/test-guest.xml.in
readonly URI=qemu:///system
readonly GUEST=hotplugd-test
readonly GUEST_OFF=hotplugd-test-off
readonly PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 pkg-config libvirt-dev)
# Marks the daemons this script starts (its value is the STATE_DIR of the run that started them).
readonly MARKER=HOTPLUGD_LIBVIRT_ENV

log() { echo "libvirt-env: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
need_root() { [ "$(id -u)" = 0 ] || die "'$1' needs root"; }
virsh_() { virsh -q -c "$URI" "$@"; }

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Whether PID is a live (not zombie) process whose command name is NAME.
pid_alive() {
    local pid=$1 name=$2 stat state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${stat##*) }
    [ "${state%% *}" != Z ]
}

# Whether the live process PID was started by this script (carries the marker variable).
started_by_us() {
    tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -q "^$MARKER="
}

# Polls CONDITION (a command) every 0.1 s for at most SECONDS seconds.
wait_until() {
    local seconds=$1 tries
    shift
    for ((tries = seconds * 10; tries > 0; tries--)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@"
}

pid_gone() { ! pid_alive "$1" "$2"; }

# Stops the process PID named NAME: SIGTERM, up to 10 s, then SIGKILL, up to 5 s.
stop_pid() {
    local pid=$1 name=$2
    pid_alive "$pid" "$name" || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 pid_gone "$pid" "$name" && return 0
    log "$name (pid $pid) ignored SIGTERM for 10 s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 5 pid_gone "$pid" "$name" || die "$name (pid $pid) does not exit"
}

cmd_install() {
    local missing=() package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q ' installed$' ||
            missing+=("$package")
    done
    if [ ${#missing[@]} = 0 ]; then
        log "packages already installed: ${PACKAGES[*]}"
        return
    fi
    need_root install
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2
}

# What libvirt-daemon-system and udev would have set up.
prepare_host() {
    mkdir -p /var/log/libvirt /var/lib/libvirt
    getent group kvm >/dev/null || groupadd --system kvm
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    if ! getent passwd libvirt-qemu >/dev/null; then
        useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt \
            --no-create-home --shell /usr/sbin/nologin libvirt-qemu
    elif ! id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm; then
        usermod -a -G kvm libvirt-qemu
    fi
    if [ -c /dev/kvm ]; then
        chgrp kvm /dev/kvm
        chmod 0660 /dev/kvm
    fi
}

# Prints the PID of the running daemon NAME when there is one that this run may use (recorded in
# STATE_DIR, or started by an earlier run of this script), after recording it; fails on a daemon
# this script did not start; prints nothing when none runs.
usable_daemon() {
    local name=$1 state_dir=$2 pid
    pid=$(cat "$state_dir/$name.pid" 2>/dev/null || true)
    if pid_alive "$pid" "$name"; then
        log "reusing $name (pid $pid) recorded in $state_dir"
        echo "$pid"
        return
    fi
    pid=$(cat "/run/$name.pid" 2>/dev/null || true)
    pid_alive "$pid" "$name" || return 0
    refuse_foreign_daemon "$name"
    log "adopting $name (pid $pid) left by an earlier run; 'stop $state_dir' will stop it"
    echo "$pid" >"$state_dir/$name.pid"
    echo "$pid"
}

# The shell run inside libvirtd's private mount namespace; $1 is an empty directory to use.
# shellcheck disable=SC2016
readonly NAMESPACE_SETUP='
set -euo pipefail
real=$1
mount --bind /sys/bus "$real"
mount -t tmpfs -o mode=0755 hotplugd-sys-bus /sys/bus
for entry in "$real"/*; do
    mkdir "/sys/bus/${entry##*/}"
    mount --bind "$entry" "/sys/bus/${entry##*/}"
done
mkdir -p /sys/bus/usb/devices
umount "$real"
exec libvirtd -d
'

# Fails when a daemon NAME runs that this script did not start.
refuse_foreign_daemon() {
    local name=$1 pid
    pid=$(cat "/run/$name.pid" 2>/dev/null || true)
    if pid_alive "$pid" "$name" && ! started_by_us "$pid"; then
        die "a $name that this script did not start is running (pid $pid); stop it first, or point the tests at it yourself with HOTPLUGD_TEST_LIBVIRT_URI"
    fi
}

# Starts the daemon NAME unless a usable one runs, and records its PID in STATE_DIR.
start_daemon() {
    local name=$1 state_dir=$2 pid
    pid=$(usable_daemon "$name" "$state_dir")
    if [ -n "$pid" ]; then return; fi
    rm -f "$state_dir/$name.pid"
    local with_env=(env "$MARKER=$state_dir" "LIBVIRT_LOG_OUTPUTS=3:file:$state_dir/$name.log")
    case $name in
    virtlogd) "${with_env[@]}" virtlogd -d ;;
    libvirtd)
        if [ -d /sys/bus/usb/devices ]; then
            "${with_env[@]}" libvirtd -d
        else
            log "no USB subsystem here: libvirtd gets a private /sys/bus with an empty usb/devices"
            mkdir -p "$state_dir/sys-bus"
            "${with_env[@]}" unshare --mount --propagation private \
                bash -c "$NAMESPACE_SETUP" namespace-setup "$state_dir/sys-bus"
        fi
        ;;
    esac
    # Both daemonize after writing /run/NAME.pid, so this is quick.
    daemon_started() {
        pid=$(cat "/run/$1.pid" 2>/dev/null || true)
        pid_alive "$pid" "$1"
    }
    wait_until 10 daemon_started "$name" || die "$name did not start (see $state_dir/$name.log)"
    echo "$pid" >"$state_dir/$name.pid"
    log "started $name (pid $pid)"
}

libvirtd_answers() { virsh -c "$URI" uri >/dev/null 2>&1; }

domain_defined() { virsh_ domstate "$1" >/dev/null 2>&1; }
domain_active() { [ "$(virsh_ domstate "$1" 2>/dev/null)" = running ] || [ "$(virsh_ domstate "$1" 2>/dev/null)" = paused ]; }

# Destroys (if running) and undefines the test guest NAME, if it exists.
remove_guest() {
    local name=$1
    domain_defined "$name" || return 0
    if domain_active "$name"; then virsh_ destroy "$name" >/dev/null; fi
    virsh_ undefine "$name" >/dev/null
}

define_guest() {
    local name=$1 type=$2 state_dir=$3
    remove_guest "$name"
    sed -e "s/@NAME@/$name/" -e "s/@TYPE@/$type/" "$GUEST_TEMPLATE" >"$state_dir/$name.xml"
    virsh_ define "$state_dir/$name.xml" >/dev/null
}

cmd_start() {
    [ $# = 1 ] || usage
    need_root start
    local state_dir=$1 tool type=kvm
    for tool in libvirtd virtlogd virsh unshare qemu-system-x86_64; do
        command -v "$tool" >/dev/null || die "$tool is missing: run '$0 install' first"
    done
    [ -r "$GUEST_TEMPLATE" ] || die "missing $GUEST_TEMPLATE"
    mkdir -p "$state_dir"
    state_dir=$(cd "$state_dir" && pwd)

    refuse_foreign_daemon libvirtd
    refuse_foreign_daemon virtlogd
    prepare_host
    start_daemon virtlogd "$state_dir"
    start_daemon libvirtd "$state_dir"
    wait_until 30 libvirtd_answers || die "libvirtd does not answer at $URI (see $state_dir/libvirtd.log)"

    [ -c /dev/kvm ] || {
        type=qemu
        log "no /dev/kvm: the test guest runs under TCG (slow, busy)"
    }
    define_guest "$GUEST" "$type" "$state_dir"
    define_guest "$GUEST_OFF" "$type" "$state_dir"
    virsh_ start "$GUEST" >/dev/null
    log "guest $GUEST running ($type), $GUEST_OFF defined and shut off"

    echo "export HOTPLUGD_TEST_LIBVIRT_URI=$URI"
    echo "export HOTPLUGD_TEST_DOMAIN=$GUEST"
    echo "export HOTPLUGD_TEST_DOMAIN_OFF=$GUEST_OFF"
    echo "export HOTPLUGD_TEST_LIBVIRT_STATE_DIR=$state_dir"
}

# For the fault tests: after libvirtd was killed, starts it again as start does (same private
# /sys/bus), leaving the guests alone (running ones outlive libvirtd, which reconnects to them),
# and returns once it answers.
cmd_restart_libvirtd() {
    [ $# = 1 ] || usage
    need_root restart-libvirtd
    local state_dir=$1
    [ -d "$state_dir" ] || die "no state directory $state_dir"
    state_dir=$(cd "$state_dir" && pwd)
    start_daemon libvirtd "$state_dir"
    wait_until 30 libvirtd_answers || die "libvirtd does not answer at $URI (see $state_dir/libvirtd.log)"
}

cmd_stop() {
    [ $# = 1 ] || usage
    need_root stop
    local state_dir=$1 libvirtd_pid virtlogd_pid name qemu_pid
    libvirtd_pid=$(cat "$state_dir/libvirtd.pid" 2>/dev/null || true)
    virtlogd_pid=$(cat "$state_dir/virtlogd.pid" 2>/dev/null || true)
    if pid_alive "$libvirtd_pid" libvirtd; then
        for name in "$GUEST" "$GUEST_OFF"; do
            remove_guest "$name" || log "could not remove guest $name"
        done
        stop_pid "$libvirtd_pid" libvirtd
    else
        log "no libvirtd of $state_dir is running"
    fi
    # A guest that outlived libvirtd (libvirtd leaves guests running when it exits).
    for name in "$GUEST" "$GUEST_OFF"; do
        qemu_pid=$(cat "/run/libvirt/qemu/$name.pid" 2>/dev/null || true)
        if pid_alive "$qemu_pid" qemu-system-x86; then stop_pid "$qemu_pid" qemu-system-x86; fi
    done
    stop_pid "$virtlogd_pid" virtlogd
    rm -f "$state_dir/libvirtd.pid" "$state_dir/virtlogd.pid"
    [ ! -d "$state_dir/sys-bus" ] || rmdir "$state_dir/sys-bus"
    log "stopped"
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
install) cmd_install "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
restart-libvirtd) cmd_restart_libvirtd "$@" ;;
*) usage ;;
esac
