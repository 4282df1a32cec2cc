#!/usr/bin/env python3
"""Prints the lab's results (host side): every check line the guest wrote, the expected checks it
did not write as FAIL, the measured times, and the closing `N passed, N failed, N skipped` line.
Exits 1 when a check failed or is missing.

    report.py RESULTS_DIR
"""

import json
import os
import statistics
import sys


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as file:
        return [line.rstrip("\n") for line in file if line.strip()]


def read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def print_times(timings, host):
    if not timings:
        return
    print("times (guest under TCG, 2 vCPUs; see docs/benchmarks.md):")
    if "guest-program-started" in host:
        print(f"  guest ready (QEMU start -> lab program, host clock): {host['guest-program-started']:.1f} s")
    if "load" in host:
        print(f"  host load average (1, 5, 15 min) before the guest: {host['load'][0]}, after: {host['load'][1]}")
    single = {
        "guest-ready": "guest ready (kernel start -> lab program, guest uptime)",
        "libvirtd-ready": "libvirtd in the guest answers",
        "inner-domain-start": "inner TCG domain started",
    }
    for key, what in single.items():
        if key in timings:
            print(f"  {what}: {timings[key]:.1f} s")
    for key in sorted(timings):
        values = timings[key]
        if isinstance(values, list) and values:
            print(
                f"  {key}: median {statistics.median(values) * 1000:.0f} ms, "
                f"min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f} (n={len(values)})"
            )
    scenario_seconds = {k.removeprefix("scenario."): v for k, v in timings.items() if k.startswith("scenario.")}
    if scenario_seconds:
        print("  checks took: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in scenario_seconds.items()))


def main():
    results = sys.argv[1]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    seen = set()
    for line in read_lines(os.path.join(results, "checks.txt")):
        status, _, rest = line.partition(" ")
        counts[status if status in counts else "FAIL"] += 1
        seen.add(rest.partition(":")[0])
        print(line)
    for name in read_lines(os.path.join(results, "expected-checks")):
        if name not in seen:
            counts["FAIL"] += 1
            print(f"FAIL {name}: not run (the guest stopped before it; see console.log and guest.log)")
    if not os.path.exists(os.path.join(results, "done")):
        counts["FAIL"] += 1
        print("FAIL guest: the lab guest did not finish (see console.log)")
    timings, host = (read_json(os.path.join(results, name)) for name in ("timings.json", "host-timings.json"))
    host["load"] = [" ".join(line.split()[:3]) for line in read_lines(os.path.join(results, "loadavg"))]
    if len(host["load"]) != 2:
        del host["load"]
    print_times(timings, host)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    sys.exit(1 if counts["FAIL"] else 0)


if __name__ == "__main__":
    main()
