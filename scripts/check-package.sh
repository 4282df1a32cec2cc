#!/usr/bin/env bash
# Checks the Debian package by installing it on this machine, as root (scripts/test.sh runs it):
#
#   scripts/check-package.sh target/debian/libvirt-usb-hotplugd_VERSION_ARCH.deb
#
# 1. lintian reports no error (the warnings and notes it prints are explained in
#    docs/packaging.md);
# 2. `dpkg-deb --contents` lists every file the package must have, the conffile is marked as
#    one, and the control file has the computed dependencies and the Recommends;
# 3. `dpkg -i` succeeds; the service is enabled (and started, where systemd runs);
#    /usr/bin/libvirt-usb-hotplugd --version runs, and `check` accepts the installed
#    configuration (no machines); every installed man page renders without a warning
#    (MANWIDTH=80 man --warnings -l PAGE prints nothing); the bash completion loads;
#    systemd-analyze verify accepts the installed unit and systemd-analyze security
#    --offline=true rates its exposure at most 2.0;
# 4. `dpkg -r` removes every file but the conffile; `dpkg -P` removes that too, the state folders
#    /var/lib/libvirt-usb-hotplugd and /run/libvirt-usb-hotplugd, and the service's enablement.
#
# It installs on this machine, not into a throw-away root (`dpkg --root`): the maintainer scripts
# run inside the root given, so a throw-away root would need a whole Debian system (a shell,
# perl, init-system-helpers, libc, libvirt0), which is a debootstrap of minutes; this machine's own
# dpkg runs them as a user's `apt install ./package.deb` does. Where systemd is not PID 1 (a
# container, CI) the maintainer scripts enable the service but do not start it, as
# deb-systemd-invoke does everywhere; where it is, the service starts with the configuration
# that attaches nothing, and is stopped on removal.
#
# It refuses to run where libvirt-usb-hotplugd is already installed or /etc/libvirt-usb-hotplugd
# exists: it would replace that installation and purge its configuration.
#
# What it needs (lintian, man-db, systemd for systemd-analyze, init-system-helpers for the
# maintainer scripts) is installed first when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly NAME=libvirt-usb-hotplugd
readonly PACKAGES=(lintian man-db groff-base systemd init-system-helpers)
readonly UNIT=/usr/lib/systemd/system/$NAME.service
readonly CONFFILE=/etc/$NAME/config.yml
readonly STATE_DIRS=("/var/lib/$NAME" "/run/$NAME")
readonly MAX_EXPOSURE=2.0

log() { echo "check-package: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
check() { log "ok: $*"; }

if [ $# != 1 ] || [ ! -f "$1" ]; then
    die "usage: scripts/check-package.sh PACKAGE.deb"
fi
[ "$(id -u)" = 0 ] || die "needs root (it installs the package)"
deb=$(realpath "$1")

installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
# Whether dpkg knows the package in any state (installed, or removed with its conffiles kept).
known() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -qv ' not-installed$'; }

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
fi

if known "$NAME" || [ -e "/etc/$NAME" ]; then
    die "$NAME is installed here (or /etc/$NAME exists): this check would replace it and purge its configuration; remove it first, or skip the package checks with HOTPLUGD_SKIP_PACKAGE_TESTS=1"
fi

# dpkg waits for no lock (another apt or dpkg may be running on a shared machine): try again
# while the lock is the only problem, for at most five minutes.
dpkg_() {
    local tries output
    for ((tries = 150; ; tries--)); do
        if output=$(dpkg "$@" 2>&1); then
            printf '%s\n' "$output" >&2
            return 0
        fi
        if ((tries == 0)) || ! grep -q 'lock' <<<"$output"; then
            printf '%s\n' "$output" >&2
            return 1
        fi
        sleep 2
    done
}

# --- 1. lintian
lintian_output=$(lintian --fail-on error --pedantic --display-info "$deb" 2>&1) || {
    printf '%s\n' "$lintian_output" >&2
    die "lintian reports errors"
}
printf '%s\n' "$lintian_output" | grep -v '^running with root privileges' >&2 || true
check "lintian: no errors"

# --- 2. the contents
contents=$(dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
expected=(
    "/usr/bin/$NAME"
    "$UNIT"
    "$CONFFILE"
    "/etc/$NAME/machines.d/"
    "/usr/share/bash-completion/completions/$NAME"
    "/usr/share/zsh/vendor-completions/_$NAME"
    "/usr/share/fish/vendor_completions.d/$NAME.fish"
    "/usr/share/doc/$NAME/README.md"
    "/usr/share/doc/$NAME/LICENSE-MIT"
    "/usr/share/doc/$NAME/LICENSE-APACHE"
    "/usr/share/doc/$NAME/copyright"
    "/usr/share/doc/$NAME/changelog.Debian.gz"
)
# Every page the generator writes (contrib/man), as man-db finds it.
man_pages=0
for page in contrib/man/*.[0-9]; do
    page=$(basename "$page")
    expected+=("/usr/share/man/man${page##*.}/$page.gz")
    man_pages=$((man_pages + 1))
done
for path in "${expected[@]}"; do
    grep -qxF "$path" <<<"$contents" || die "the package lacks $path"
done
machines_d=$(dpkg-deb --contents "$deb" | awk '$6 ~ /machines\.d\/?/')
[ "$(wc -l <<<"$machines_d")" = 1 ] || die "machines.d is not empty in the package: $machines_d"
check "dpkg-deb --contents lists the ${#expected[@]} files and folders"

conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
[ "$conffiles" = "$CONFFILE" ] || die "conffiles is '$conffiles', not $CONFFILE"
depends=$(dpkg-deb --field "$deb" Depends)
if ! grep -q 'libvirt0' <<<"$depends" || ! grep -q 'libc6' <<<"$depends"; then
    die "Depends ($depends) lacks the shared libraries' packages"
fi
[ "$(dpkg-deb --field "$deb" Recommends)" = libvirt-daemon-system ] || die "Recommends is not libvirt-daemon-system"
check "conffile $CONFFILE; Depends: $depends; Recommends: libvirt-daemon-system"

# --- 3. install
purge_on_exit() {
    if known "$NAME"; then
        log "removing the package again"
        dpkg_ --purge "$NAME" >/dev/null 2>&1 || log "could not purge $NAME: dpkg -P $NAME"
    fi
}
trap purge_on_exit EXIT
dpkg_ --install "$deb" >/dev/null || die "dpkg -i failed"
installed "$NAME" || die "dpkg -i did not install $NAME"
check "dpkg -i $(basename "$deb")"

[ -L /etc/systemd/system/multi-user.target.wants/$NAME.service ] || die "the service is not enabled"
if [ -d /run/systemd/system ]; then
    systemctl is-active --quiet $NAME || die "the service is not running"
    check "the service is enabled and running"
else
    check "the service is enabled (systemd is not running here, so it was not started)"
fi

version_text=$(/usr/bin/$NAME --version)
version=$(dpkg-deb --field "$deb" Version)
grep -qx "$NAME ${version%-*}" <<<"$(head -n 1 <<<"$version_text")" ||
    die "--version says '$(head -n 1 <<<"$version_text")', the package is $version"
grep -q '^libvirt library: [0-9]' <<<"$version_text" || die "--version names no libvirt library: $version_text"
check "/usr/bin/$NAME --version: $(tr '\n' ';' <<<"$version_text")"
summary=$(/usr/bin/$NAME check "$CONFFILE")
grep -qx 'machines: none' <<<"$summary" || die "the installed configuration is not empty: $summary"
check "the installed configuration is valid and has no machines"

pages=0
while read -r page; do
    [ -n "$page" ] || continue
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || die "man --warnings -l $page: $warnings"
    pages=$((pages + 1))
done < <(dpkg -L "$NAME" | grep '^/usr/share/man/man./')
((pages == man_pages)) || die "the package installed $pages man pages, contrib/man has $man_pages"
[ "$(man -w 5 $NAME)" = /usr/share/man/man5/$NAME.5.gz ] || die "man 5 $NAME does not find the config page"
check "$pages man pages render without warnings at 80 columns; man 5 $NAME finds the config page"

bash -c "source /usr/share/bash-completion/completions/$NAME && complete -p $NAME" >/dev/null ||
    die "the bash completion does not load"
check "the bash completion loads"

verify=$(systemd-analyze verify "$UNIT" 2>&1) || die "systemd-analyze verify $UNIT: $verify"
[ -z "$verify" ] || die "systemd-analyze verify $UNIT: $verify"
check "systemd-analyze verify accepts $UNIT"
security=$(systemd-analyze security --offline=true "$UNIT" 2>&1) || die "systemd-analyze security: $security"
exposure=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$security")
[ -n "$exposure" ] || die "systemd-analyze security printed no exposure: $security"
awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }' ||
    die "the unit's exposure is $exposure, more than $MAX_EXPOSURE"
check "systemd-analyze security --offline=true: exposure $exposure (at most $MAX_EXPOSURE)"

# --- 4. remove, then purge
files=$(dpkg -L "$NAME" | while read -r path; do if [ -f "$path" ]; then echo "$path"; fi; done)
# What the service's StateDirectory= and RuntimeDirectory= would hold after a run.
for dir in "${STATE_DIRS[@]}"; do
    mkdir -p "$dir"
    touch "$dir/state"
done
dpkg_ --remove "$NAME" >/dev/null || die "dpkg -r failed"
while read -r path; do
    if [ "$path" = "$CONFFILE" ]; then
        [ -f "$path" ] || die "dpkg -r removed the conffile $path"
    else
        [ ! -e "$path" ] || die "dpkg -r left $path"
    fi
done <<<"$files"
[ ! -e /etc/$NAME/machines.d ] || die "dpkg -r left the empty /etc/$NAME/machines.d"
check "dpkg -r removed the $(($(wc -l <<<"$files") - 1)) files but the conffile"

dpkg_ --purge "$NAME" >/dev/null || die "dpkg -P failed"
[ ! -e /etc/$NAME ] || die "dpkg -P left /etc/$NAME"
for dir in "${STATE_DIRS[@]}"; do
    [ ! -e "$dir" ] || die "dpkg -P left $dir"
done
[ ! -e /etc/systemd/system/multi-user.target.wants/$NAME.service ] || die "dpkg -P left the service enabled"
[ ! -e /etc/systemd/system/$NAME.service ] || die "dpkg -P left the service masked"
! known "$NAME" || die "dpkg still knows $NAME after dpkg -P"
check "dpkg -P removed the conffile, /etc/$NAME, ${STATE_DIRS[*]} and the enablement"
