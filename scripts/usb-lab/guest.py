#!/usr/bin/python3
"""The lab guest's program: records the emulated devices, starts libvirtd and the inner domain,
runs every scenario (scenarios.py) and writes one check line each to RESULTS/checks.txt.

Run by scripts/usb-lab.sh inside the guest (Debian's python3, for python3-libvirt):

    guest.py RESULTS_DIR

RESULTS/lab.json (written by the host) gives `binary` (the daemon to test), `peer` (the race check's
peer, libvirt-hotplug-usb; empty when the host could not install it, `peer_error` says why),
`rounds` (of the timing check), `race_rounds` (of the race check), `only` (names of the checks to run; empty: all) and
`qemu_version` (for the recordings).

RESULTS/expected-checks lists the checks it will write (the host counts a missing one as failed);
RESULTS/done is written last. The guest powers off when this program ends.
"""

import json
import os
import platform
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from devices import FIXED  # noqa: E402
from lab import Host, Hotplugd, LabError, Libvirt, Peer, Results, Uevents, log, monotonic, usb_devices  # noqa: E402
from record import record_all  # noqa: E402
from scenarios import SCENARIOS, reset  # noqa: E402

DOMAIN = "usb-lab-inner"
SCRATCH = "/tmp/usb-lab"  # the guest's tmpfs overlay: nothing of it reaches the host
LIBVIRTD_TIMEOUT = 240


class Lab:
    """What a scenario works with."""

    def __init__(self, results, host, uevents, libvirt, hotplugd, rounds, race_rounds, peer=None, peer_error=""):
        self.results = results
        self.host = host
        self.uevents = uevents
        self.libvirt = libvirt
        self.hotplugd = hotplugd
        self.peer = peer  # a Peer, or None (peer_error says why)
        self.peer_error = peer_error
        self.rounds = rounds
        self.race_rounds = race_rounds
        self.domain = DOMAIN
        self.scratch = SCRATCH
        self.plugged = set()


def record(results, qemu_version):
    """Records the fixed devices as the guest found them, before any scenario touched them."""
    udev_version = subprocess.run(["udevadm", "--version"], capture_output=True, text=True).stdout.strip()
    common = [
        "recorded by: scripts/usb-lab.sh (scripts/usb-lab/record.py) in the lab guest",
        f"kernel: Debian linux-image-amd64, {platform.release()} (under QEMU TCG)",
        f"udev: systemd-udevd {udev_version} (Debian package udev)",
        f"emulated by: {qemu_version}, on -device qemu-xhci,id=xhci",
    ]
    per_device = {name: [f"qemu device: -device {option},bus=xhci.0,id={device_id}", f"role: {what}"] for device_id, name, what, option in FIXED}
    return record_all(usb_devices(), results.file("recordings"), common, per_device)


def run_scenarios(lab, only):
    for name, function in SCENARIOS:
        if only and name not in only:
            continue
        started = monotonic()
        try:
            status, detail = function(lab)
        except LabError as error:
            status, detail = "FAIL", str(error)
        except Exception as error:  # a bug or an unexpected failure: say where, go on with the next
            status, detail = "FAIL", f"{type(error).__name__}: {error} ({traceback.format_exc().splitlines()[-3].strip()})"
            traceback.print_exc()
        try:
            reset(lab)
        except Exception as error:  # noqa: BLE001 - every later scenario would start wrong
            status, detail = "FAIL", f"{detail}; and the reset after it failed: {error}"
        lab.results.timings[f"scenario.{name}"] = round(monotonic() - started, 3)
        lab.results.check(status, name, detail)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: guest.py RESULTS_DIR")
    # Everything this program and its children print goes to RESULTS/guest.log.
    guest_log = os.open(os.path.join(sys.argv[1], "guest.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(guest_log, 1)
    os.dup2(guest_log, 2)
    results = Results(sys.argv[1])
    with open(results.file("lab.json"), encoding="utf-8") as file:
        settings = json.load(file)
    only = set(settings["only"])
    with open("/proc/uptime", encoding="utf-8") as uptime:
        results.timings["guest-ready"] = float(uptime.read().split()[0])
    with open(results.file("expected-checks"), "w", encoding="utf-8") as out:
        out.write("".join(f"{name}\n" for name in ["record", "setup"] + [n for n, _ in SCENARIOS if not only or n in only]))
    os.makedirs(SCRATCH, exist_ok=True)

    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True)
    uevents = hotplugd = peer = None
    libvirt = Libvirt(results, results.timings)
    try:
        libvirt.launch()  # it probes QEMU for a minute: record the devices meanwhile
    except Exception as error:  # noqa: BLE001 - reported by connect below
        log(f"libvirtd did not start: {error}")
    try:
        names = record(results, settings["qemu_version"])
        results.check("PASS", "record", f"{len(names)} devices recorded in recordings/: {', '.join(names)}")
    except Exception as error:  # noqa: BLE001
        traceback.print_exc()
        results.check("FAIL", "record", f"{type(error).__name__}: {error}")
    try:
        uevents = Uevents(results.file("uevents.log"))
        libvirt.connect(LIBVIRTD_TIMEOUT)
        libvirt.create_domain(DOMAIN)
        hotplugd = Hotplugd(settings["binary"], results, SCRATCH)
        peer_error = settings.get("peer_error") or "no peer binary given in lab.json"
        if settings.get("peer"):
            if os.access(settings["peer"], os.X_OK):
                peer = Peer(settings["peer"], results, SCRATCH)
            else:
                peer_error = f"the peer binary {settings['peer']} is not executable in the guest"
        results.check(
            "PASS", "setup",
            f"libvirtd answered after {results.timings['libvirtd-ready']:.1f} s, inner TCG domain {DOMAIN} "
            f"started in {results.timings['inner-domain-start']:.1f} s",
        )
        lab = Lab(results, Host(results), uevents, libvirt, hotplugd, settings["rounds"], settings.get("race_rounds", settings["rounds"]), peer, peer_error)
        run_scenarios(lab, only)
    except Exception as error:  # noqa: BLE001 - the setup failed: nothing else can run
        traceback.print_exc()
        results.check("FAIL", "setup", f"{type(error).__name__}: {error}")
    finally:
        for part in (hotplugd, peer, libvirt, uevents):
            if part is not None:
                try:
                    part.stop()
                except Exception as error:  # noqa: BLE001
                    log(f"stopping {type(part).__name__}: {error}")
        results.write_json("timings.json", results.timings)
        with open(results.file("done"), "w", encoding="utf-8") as out:
            out.write(f"{monotonic():.3f}\n")


if __name__ == "__main__":
    main()
