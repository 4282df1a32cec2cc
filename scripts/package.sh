#!/usr/bin/env bash
# Builds the Debian package target/debian/libvirt-usb-hotplugd_VERSION-REVISION_ARCH.deb and prints
# its path (the last line on stdout; everything else goes to stderr).
#
#   scripts/package.sh
#
# The package is made by cargo-deb from [package.metadata.deb] in hotplugd/Cargo.toml (what goes
# where: docs/packaging.md). cargo-deb packages files only and writes no md5sums, so the empty
# folder /etc/libvirt-usb-hotplugd/machines.d/ and DEBIAN/md5sums are added afterwards by
# unpacking the package with dpkg-deb and building it again, everything else unchanged.
#
# What it needs, installed when missing: pkg-config, libvirt-dev (the binary links libvirt) and
# dpkg-dev (dpkg-shlibdeps computes the dependencies) from apt, through sudo when not root; and
# cargo-deb $CARGO_DEB_VERSION, built from crates.io into target/tools/ (a few minutes, once per
# checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CARGO_DEB_VERSION=3.8.0
readonly CARGO_DEB=target/tools/bin/cargo-deb
readonly APT_PACKAGES=(pkg-config libvirt-dev dpkg-dev)

log() { echo "package: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "${missing[*]} missing; install them as root: apt-get install ${missing[*]}"
        as_root=(sudo)
    fi
    log "installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$("$CARGO_DEB" --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    log "building cargo-deb $CARGO_DEB_VERSION into target/tools"
    cargo install --quiet --locked --root target/tools "cargo-deb@$CARGO_DEB_VERSION"
fi

# The package's version is the workspace's; its changelog's first entry must name it.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
changelog_version=$(dpkg-parsechangelog -l contrib/debian/changelog -S Version)
[ "${changelog_version%-*}" = "$version" ] ||
    die "contrib/debian/changelog starts with version $changelog_version, the workspace is $version: add an entry (dch -c contrib/debian/changelog -v $version-1)"

# cargo deb prints the path of the package it wrote as its last line.
deb=$("$CARGO_DEB" --package hotplugd --quiet | tail -n 1)
[ -f "$deb" ] || die "cargo deb wrote no package ($deb)"

unpacked=$(mktemp -d "${TMPDIR:-/tmp}/hotplugd-deb.XXXXXX")
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb --raw-extract "$deb" "$unpacked/root"
etc_dir=$unpacked/root/etc/libvirt-usb-hotplugd
install -d -m 755 "$etc_dir/machines.d"
touch --reference "$etc_dir/config.yml" "$etc_dir/machines.d" "$etc_dir"
# The checksums of the files other than the conffiles (cargo-deb writes none), for debsums and
# dpkg --verify.
(
    cd "$unpacked/root"
    find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
        grep -vxF -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -d '\n' md5sum >DEBIAN/md5sums
)
dpkg-deb --root-owner-group -Zxz --build "$unpacked/root" "$deb" >/dev/null
log "built $deb"
echo "$deb"
