#!/usr/bin/env bash
# Mutation testing of the pure parts with cargo-mutants: it changes the code one small way at a
# time (a `>` made `>=`, a function body replaced by a default value, ...) and runs the tests; a
# change no test notices ("missed") is a gap in the tests, or a change that makes no difference
# (an equivalent mutant). docs/mutants.md lists the results and explains every survivor.
#
#   scripts/mutants.sh [SCOPE...]        SCOPE: match udev-db planner backoff config (default: all)
#   scripts/mutants.sh --iterate [SCOPE...]   again, skipping the mutants caught last time
#
# Not part of CI or scripts/test.sh: on a 2-core machine a full run takes hours. Each scope runs
# the tests of its own crate that are enough for it (the lead's list below), never the tests that
# need a real libvirtd or root, two mutants at a time, with timeouts, with PROPTEST_CASES=64 (the
# proptests' generated cases per property; their own default is 256), and without debug info
# (building, mostly linking, each mutant's tests is most of the time).
#
# Each scope's results go to target/mutants/SCOPE/mutants.out/ (caught.txt, missed.txt,
# unviable.txt, timeout.txt, outcomes.json); a summary line per scope is printed at the end.
#
# cargo-mutants $CARGO_MUTANTS_VERSION is built from crates.io into target/tools/ the first time
# (a few minutes), as scripts/package.sh builds cargo-deb. Building the workspace needs pkg-config
# and libvirt-dev (scripts/libvirt-env.sh install, as root, installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CARGO_MUTANTS_VERSION=27.1.0
readonly CARGO_MUTANTS=target/tools/bin/cargo-mutants
readonly ALL_SCOPES=(match udev-db planner backoff config)

log() { echo "mutants: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

iterate=()
if [ "${1:-}" = --iterate ]; then
    iterate=(--iterate)
    shift
fi
scopes=("$@")
[ ${#scopes[@]} -gt 0 ] || scopes=("${ALL_SCOPES[@]}")

if [ "$("$CARGO_MUTANTS" mutants --version 2>/dev/null)" != "cargo-mutants $CARGO_MUTANTS_VERSION" ]; then
    log "building cargo-mutants $CARGO_MUTANTS_VERSION into target/tools"
    cargo install --quiet --locked --root target/tools "cargo-mutants@$CARGO_MUTANTS_VERSION"
fi

# The arguments of one scope: what is mutated, and which tests judge it.
scope_arguments() {
    case "$1" in
    match) echo "-p hotplug-match --cargo-test-arg=--lib --cargo-test-arg=--tests" ;;
    udev-db) echo "-p udev-db --cargo-test-arg=--lib --cargo-test-arg=--tests" ;;
    # The planner and the hostdev XML need no libvirt: without the feature, no test needs a
    # libvirtd, and the build skips the virt crate.
    planner)
        echo "-p libvirt-sync --no-default-features -f libvirt-sync/src/plan/*.rs" \
            "-f libvirt-sync/src/xml.rs -f libvirt-sync/src/hostdev.rs" \
            "--cargo-test-arg=--lib --cargo-test-arg=--tests"
        ;;
    # The backoff's own unit tests, the reconciler on the mock, and the daemon loop in-process.
    backoff)
        echo "-p hotplugd -f hotplugd/src/backoff.rs --cargo-test-arg=--lib" \
            "--cargo-test-arg=--test=reconcile_mock --cargo-test-arg=--test=daemon_pacing"
        ;;
    # The configuration (the duration module included): its unit tests and the loader's tests.
    config)
        echo "-p hotplugd -f hotplugd/src/config/*.rs --cargo-test-arg=--lib" \
            "--cargo-test-arg=--test=config_table --cargo-test-arg=--test=config_props" \
            "--cargo-test-arg=--test=config_load --cargo-test-arg=--test=check"
        ;;
    *) die "unknown scope $1 (one of: ${ALL_SCOPES[*]})" ;;
    esac
}

summaries=()
for scope in "${scopes[@]}"; do
    read -r -a arguments <<<"$(scope_arguments "$scope")"
    output=target/mutants/$scope
    mkdir -p "$output"
    log "$scope: cargo mutants ${arguments[*]}"
    # Exit status 2 means some mutants were missed, 3 that some timed out: the counts say so.
    set +e
    # -f takes a glob, which must reach cargo-mutants unexpanded.
    set -f
    PROPTEST_CASES=64 CARGO_PROFILE_DEV_DEBUG=0 "$CARGO_MUTANTS" mutants "${iterate[@]}" "${arguments[@]}" \
        --jobs 2 --timeout 300 --build-timeout 900 --colors never --no-times \
        --output "$output" >"$output/log.txt" 2>&1
    status=$?
    set +f
    set -e
    [ "$status" -le 3 ] || die "$scope: cargo mutants failed ($status); see $output/log.txt"
    count() { grep -c . "$output/mutants.out/$1.txt" 2>/dev/null || true; }
    summaries+=("$scope: $(count caught) caught, $(count missed) missed, $(count unviable) unviable, $(count timeout) timeout")
    log "${summaries[-1]}"
done
echo "== mutation testing (results in target/mutants/SCOPE/mutants.out)"
printf '%s\n' "${summaries[@]}"
