"""The lab's checks, in the order they run; each is one function registered with @scenario.

A scenario gets the `Lab` (results, host hot-plug, udev monitor, libvirt with the inner domain, the
built binary) and returns ``(status, detail)`` for its one check line, or raises `LabError` (a FAIL
with that detail). After each one the runner detaches every hostdev, stops the daemon and unplugs
what was hot-plugged, so the next starts from the fixed set of devices.

Timing: `plug_rounds` plugs and unplugs a keyboard on the free root port N times against a running
attacher and records, per round, kernel add -> libvirt device-added and kernel remove -> libvirt
device-removed (and udevd's broadcast delay). A new timing scenario (another rule, another attacher
such as a peer tool) is a new function calling it with its own name. `race` does so side by side:
each round, the daemon with a sysfs-only rule, the daemon with a udev-property rule and the peer
libvirt-hotplug-usb, one after the other in an order rotated each round (race.json has every round).
No check asserts a time: a scenario fails only when a step did not happen.
"""

import glob
import os
import re
import statistics
import subprocess
import time

from devices import DISK_IDS, HOTPLUG_KERNEL_NAME, HOTPLUG_PORT, KEYBOARD_IDS, by_role
from lab import LabError, attribute, cpu_ns, cpu_ns_by_thread, monotonic, udev_properties, usb_devices, wait_until_quiet

SCENARIOS = []

# The daemon runs with this interval and every plug follows a reconcile within seconds, so an
# attach within ATTACH_TIMEOUT of a plug came from the udev event, not from the resync tick.
INTERVAL = "60s"
ATTACH_TIMEOUT = 40
HOT_ID = "lab-hot"


def scenario(name):
    def register(function):
        SCENARIOS.append((name, function))
        return function

    return register


def machine(lab, matchers):
    """The `machines:` body of a configuration: the inner domain with MATCHERS (YAML lines)."""
    body = "".join(f"      {line}\n" for line in matchers)
    return f"  {lab.domain}:\n    devices:\n{body}"


def alias_of(kernel_name):
    return "ua-hotplugd-{}-{}-{:04x}-{:04x}".format(
        int(attribute(kernel_name, "busnum")),
        int(attribute(kernel_name, "devnum")),
        int(attribute(kernel_name, "idVendor"), 16),
        int(attribute(kernel_name, "idProduct"), 16),
    )


def expect_hostdevs(lab, aliases, what):
    """The inner domain's live XML has exactly the hostdevs ALIASES, and `info usb` shows each."""
    found = sorted(h["alias"] for h in lab.libvirt.hostdevs())
    if found != sorted(aliases):
        raise LabError(f"{what}: the domain's hostdevs are {found}, expected {sorted(aliases)}")
    info = lab.libvirt.info_usb()
    missing = [alias for alias in aliases if alias not in info]
    if missing:
        raise LabError(f"{what}: `info usb` does not show {missing}: {info.strip()!r}")


# --- discovery -----------------------------------------------------------------------------------


def split_tags(value):
    return {tag for tag in (value or "").split(":") if tag}


@scenario("discovery")
def discovery(lab):
    """`list --json` equals `udevadm info` for every usb_device: every property (USEC_INITIALIZED
    included), the tags and the current tags."""
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True)
    listed = {device["devpath"]: device for device in lab.hotplugd.json("list", "--json")}
    names = usb_devices()
    problems = []
    properties = 0
    initialized = 0
    for name in names:
        udev = udev_properties(name)
        device = listed.pop(udev["DEVPATH"], None)
        if device is None:
            problems.append(f"{name}: not in list --json")
            continue
        expected = {key: value for key, value in udev.items() if key not in ("TAGS", "CURRENT_TAGS")}
        for key in sorted(set(expected) | set(device["properties"])):
            if expected.get(key) != device["properties"].get(key):
                problems.append(f"{name} {key}: list {device['properties'].get(key)!r}, udevadm {expected.get(key)!r}")
        if set(device["tags"]) != split_tags(udev.get("TAGS")):
            problems.append(f"{name} tags: list {device['tags']}, udevadm {udev.get('TAGS')!r}")
        if set(device["current-tags"]) != split_tags(udev.get("CURRENT_TAGS")):
            problems.append(f"{name} current tags: list {device['current-tags']}, udevadm {udev.get('CURRENT_TAGS')!r}")
        properties += len(expected)
        initialized += "USEC_INITIALIZED" in expected
    problems += [f"{devpath}: listed, but udev has no such usb_device" for devpath in listed]
    if problems:
        raise LabError("; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""))
    if initialized != len(names):
        raise LabError(f"only {initialized} of {len(names)} devices have USEC_INITIALIZED")
    return "PASS", f"{len(names)} devices ({', '.join(names)}), {properties} properties equal, USEC_INITIALIZED on all, tags and current tags equal"


def sysfs_interfaces(kernel_name):
    """The (class, subclass, protocol) of each interface of the active configuration, from sysfs."""
    directory = f"/sys/bus/usb/devices/{kernel_name}"
    found = []
    for entry in sorted(os.listdir(directory)):
        if ":" in entry and os.path.exists(f"{directory}/{entry}/bInterfaceClass"):
            found.append(tuple(attribute(f"{kernel_name}/{entry}", name).lower() for name in ("bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol")))
    return found


@scenario("interfaces")
def interfaces(lab):
    """`list --json` gives each device its interfaces; they equal sysfs and udev's ID_USB_INTERFACES."""
    listed = lab.hotplugd.json("list", "--json")
    if not any("interfaces" in device for device in listed):
        return "SKIP", "the built binary's `list --json` has no `interfaces` (class matchers not merged yet)"
    problems = []
    for device in listed:
        name = device["port"]
        from_list = [(i["class"], i["subclass"], i["protocol"]) for i in device.get("interfaces", [])]
        from_sysfs = sysfs_interfaces(name)
        from_udev = split_tags(udev_properties(name).get("ID_USB_INTERFACES"))
        if sorted(from_list) != sorted(from_sysfs):
            problems.append(f"{name}: list {from_list}, sysfs {from_sysfs}")
        if {"".join(codes) for codes in from_sysfs} != from_udev:
            problems.append(f"{name}: sysfs {from_sysfs}, ID_USB_INTERFACES {sorted(from_udev)}")
        if device.get("device-class") != attribute(name, "bDeviceClass").lower():
            problems.append(f"{name}: device-class {device.get('device-class')!r}, bDeviceClass {attribute(name, 'bDeviceClass')!r}")
    if problems:
        raise LabError("; ".join(problems))
    return "PASS", f"{len(listed)} devices: interfaces and device class equal sysfs and ID_USB_INTERFACES"


# --- events and timing ---------------------------------------------------------------------------


class Plugged:
    """A device hot-plugged on the free root port, and when each step of its attach happened."""

    def __init__(self, alias, devnum, kernel_add, udev_add, device_added, kernel_bind, cpu_ms):
        self.alias = alias
        self.devnum = devnum
        self.kernel_add = kernel_add
        self.udev_add = udev_add
        self.device_added = device_added
        # The kernel's `bind` of the device: it has configured it (chosen the configuration,
        # added the interfaces, probed their drivers), holding the device's lock until then.
        self.kernel_bind = kernel_bind
        # CPU time each watched process ran from the plug request until device-added was seen.
        self.cpu_ms = cpu_ms


def plug_and_wait_attached(lab, serial, alias=None, timeout=ATTACH_TIMEOUT, watched=None):
    """Hot-plugs a keyboard on the free root port; waits for the kernel's add and libvirt's
    device-added of ALIAS (a str or a compiled pattern; by default the daemon's alias for it). The
    returned `Plugged` has the alias seen, and the CPU time of each process of WATCHED (name -> pid)
    from the plug request until device-added was seen."""
    watched = watched or {}
    threads_before = cpu_ns_by_thread(watched["attacher"]) if "attacher" in watched else None
    cpu_before = {name: cpu_ns(pid) for name, pid in watched.items()}
    uevents, events = lab.uevents.mark(), lab.libvirt.mark()
    lab.host.plug("usb-kbd", port=HOTPLUG_PORT, id=HOT_ID, serial=serial)
    lab.plugged.add(HOT_ID)
    kernel_add, _ = lab.uevents.wait("KERNEL", "add", HOTPLUG_KERNEL_NAME, uevents)
    device_added, alias = lab.libvirt.wait_event("device-added", alias or alias_of(HOTPLUG_KERNEL_NAME), events, timeout)
    cpu_after = {name: cpu_ns(pid) for name, pid in watched.items()}
    threads_after = cpu_ns_by_thread(watched["attacher"]) if "attacher" in watched else None
    cpu_ms = {
        name: round((cpu_after[name] - cpu_before[name]) / 1e6, 1)
        for name in watched
        if cpu_before[name] is not None and cpu_after[name] is not None
    }
    if threads_before is not None and threads_after is not None:
        cpu_ms["attacher threads"] = {
            thread: round((ran - threads_before.get(thread, 0)) / 1e6, 1)
            for thread, ran in threads_after.items()
            if ran != threads_before.get(thread, 0)
        }
    udev_add, _ = lab.uevents.wait("UDEV", "add", HOTPLUG_KERNEL_NAME, uevents)
    kernel_bind, _ = lab.uevents.wait("KERNEL", "bind", HOTPLUG_KERNEL_NAME, uevents)
    devnum = int(attribute(HOTPLUG_KERNEL_NAME, "devnum"))
    return Plugged(alias, devnum, kernel_add, udev_add, device_added, kernel_bind, cpu_ms)


def unplug_and_wait_detached(lab, plugged, timeout=ATTACH_TIMEOUT):
    """Hot-removes the device; returns (kernel remove -> device-removed of its alias) in seconds."""
    uevents, events = lab.uevents.mark(), lab.libvirt.mark()
    lab.host.unplug(HOT_ID)
    lab.plugged.discard(HOT_ID)
    kernel_remove, _ = lab.uevents.wait("KERNEL", "remove", HOTPLUG_KERNEL_NAME, uevents)
    device_removed, _ = lab.libvirt.wait_event("device-removed", plugged.alias, events, timeout)
    return device_removed - kernel_remove


def record_round(lab, name, plugged, unplug_seconds):
    lab.results.timing(f"{name}.plug-to-attached", plugged.device_added - plugged.kernel_add)
    lab.results.timing(f"{name}.udev-broadcast", plugged.udev_add - plugged.kernel_add)
    if unplug_seconds is not None:
        lab.results.timing(f"{name}.unplug-to-detached", unplug_seconds)


def plug_rounds(lab, name, rounds, serial_prefix):
    """ROUNDS plug/unplug rounds against whatever attaches (the daemon the caller started), each
    recorded under NAME."""
    for index in range(rounds):
        plugged = plug_and_wait_attached(lab, f"{serial_prefix}{index}")
        expect_hostdevs(lab, [plugged.alias], f"round {index + 1}")
        record_round(lab, name, plugged, unplug_and_wait_detached(lab, plugged))


def expect_no_warnings(lab):
    warnings = lab.hotplugd.warnings()
    if warnings:
        raise LabError(f"the daemon warned: {' | '.join(warnings)[:600]}")


def median_ms(lab, key):
    values = lab.results.timings.get(key, [])
    return f"{statistics.median(values) * 1000:.0f} ms" if values else "n/a"


@scenario("events")
def events(lab):
    """The daemon (interval 60 s) attaches a hot-added device, detaches it on hot-remove, and
    attaches it again under its new device number with exactly one hostdev; none of it makes the
    daemon warn."""
    config = lab.hotplugd.write_config("events", machine(lab, [f'- port: "{HOTPLUG_KERNEL_NAME}"']), INTERVAL)
    lab.hotplugd.start("events", config)
    first = plug_and_wait_attached(lab, "LAB-EVENTS-1")
    expect_hostdevs(lab, [first.alias], "after the plug")
    # Once as a user would look (1-4 s a call under TCG; elsewhere the same call through the API).
    virsh = subprocess.run(
        ["virsh", "-c", "qemu:///system", "qemu-monitor-command", lab.domain, "--hmp", "info usb"],
        capture_output=True, text=True, timeout=60,
    )
    if first.alias not in virsh.stdout:
        raise LabError(f"virsh qemu-monitor-command --hmp 'info usb' does not show {first.alias}: {virsh.stdout.strip()!r} {virsh.stderr.strip()!r}")
    record_round(lab, "port-rule", first, unplug_and_wait_detached(lab, first))
    if lab.libvirt.hostdevs():
        raise LabError(f"after the unplug the domain still has {lab.libvirt.hostdevs()}")
    if first.alias in lab.libvirt.info_usb():
        raise LabError(f"after the unplug `info usb` still shows {first.alias}")
    second = plug_and_wait_attached(lab, "LAB-EVENTS-1")
    if second.devnum == first.devnum:
        raise LabError(f"the re-added device kept device number {first.devnum}")
    expect_hostdevs(lab, [second.alias], "after the re-add")
    record_round(lab, "port-rule", second, unplug_and_wait_detached(lab, second))
    expect_no_warnings(lab)
    return "PASS", (
        f"{first.alias} attached {first.device_added - first.kernel_add:.2f} s after the kernel's add, "
        f"detached on remove; re-added as device {second.devnum}: {second.alias} the one hostdev "
        f"({second.device_added - second.kernel_add:.2f} s); port rule, interval {INTERVAL}"
    )


@scenario("timing")
def timing(lab):
    """More plug/unplug rounds, with a rule on a udev property (it must wait for udevd's event)."""
    rounds = lab.rounds
    if rounds == 0:
        return "SKIP", "USB_LAB_ROUNDS=0"
    rule = ["- udev:", "    env:", "    - name: ID_SERIAL_SHORT", "      pattern: '^LAB-TIMING-'"]
    config = lab.hotplugd.write_config("timing", machine(lab, rule), INTERVAL)
    lab.hotplugd.start("timing", config)
    plug_rounds(lab, "udev-rule", rounds, "LAB-TIMING-")
    expect_no_warnings(lab)
    return "PASS", (
        f"{rounds} rounds, ID_SERIAL_SHORT rule: plug -> attached median {median_ms(lab, 'udev-rule.plug-to-attached')}, "
        f"unplug -> detached median {median_ms(lab, 'udev-rule.unplug-to-detached')}, "
        f"udevd broadcast median {median_ms(lab, 'udev-rule.udev-broadcast')}"
    )


# --- the race against the peer (issue 16) -------------------------------------------------------

RACE_SERIAL_PREFIX = "LAB-RACE-"
# The peer's hostdevs get libvirt's names (hostdev0, ...): its attach is the first device-added.
ANY_ALIAS = re.compile(r".+")
RACERS = ("daemon-sysfs", "daemon-udev", "peer")
# How long each leg samples the attacher's CPU time before its plug, nothing happening.
IDLE_SAMPLE_SECONDS = 0.3


def inner_qemu_pid(lab):
    """The PID of the inner domain's QEMU (libvirt's pid file), or None."""
    try:
        with open(f"/run/libvirt/qemu/{lab.domain}.pid", encoding="ascii") as pid_file:
            return int(pid_file.read().strip())
    except (OSError, ValueError):
        return None


def race_leg(lab, who, number, start, stop, alias, attacher_pid, record=True):
    """One attacher's turn: started, one keyboard plugged (a fresh serial) and attached as the one
    hostdev, unplugged and detached, stopped; the domain then holds no hostdev. Returns its times
    and the CPU time the attacher (ATTACHER_PID() once started), libvirtd and the inner QEMU ran
    from the plug to device-added. RECORD: whether the times go to the lab's timings too."""
    serial = f"{RACE_SERIAL_PREFIX}{number}-{who.upper()}"
    start()
    try:
        watched = {"attacher": attacher_pid(), "libvirtd": lab.libvirt.daemon.pid, "inner-qemu": inner_qemu_pid(lab)}
        watched = {name: pid for name, pid in watched.items() if pid is not None}
        # Each attacher is raced as it runs for days: its start-up work (the daemon's first
        # report and status file, the peer's scan) done before the plug.
        quiet_after = wait_until_quiet(watched["attacher"], who)
        # What the attacher runs when nothing happens, over a fixed third of a second.
        idle_from, idle_cpu = monotonic(), cpu_ns(watched["attacher"])
        time.sleep(IDLE_SAMPLE_SECONDS)
        idle_ms = (cpu_ns(watched["attacher"]) - idle_cpu) / 1e6 / (monotonic() - idle_from) * IDLE_SAMPLE_SECONDS
        plugged = plug_and_wait_attached(lab, serial, alias, watched=watched)
        plugged.cpu_ms[f"attacher idle per {IDLE_SAMPLE_SECONDS} s"] = round(idle_ms, 1)
        plugged.cpu_ms["quiet after s"] = round(quiet_after, 2)
        expect_hostdevs(lab, [plugged.alias], "after the plug")
        unplug_seconds = unplug_and_wait_detached(lab, plugged)
        if who.startswith("daemon"):
            expect_no_warnings(lab)
    finally:
        stop()
    left = lab.libvirt.hostdevs()
    if left:
        lab.libvirt.detach_all()
        raise LabError(f"after the unplug the domain still had {left}")
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True, timeout=90)
    if record:
        record_round(lab, f"race.{who}", plugged, unplug_seconds)
    return {
        "serial": serial,
        "alias": plugged.alias,
        "plug_to_attached_ms": round((plugged.device_added - plugged.kernel_add) * 1000, 1),
        "udev_broadcast_ms": round((plugged.udev_add - plugged.kernel_add) * 1000, 1),
        "unplug_to_detached_ms": round(unplug_seconds * 1000, 1),
        # The kernel's configuration (add -> bind), which no attacher can shorten: QEMU's open of
        # the device waits for it, and so does a read of its strings; and what came after it.
        "kernel_configured_ms": round((plugged.kernel_bind - plugged.kernel_add) * 1000, 1),
        "configured_to_attached_ms": round((plugged.device_added - plugged.kernel_bind) * 1000, 1),
        # What else ran meanwhile: on the guest's two TCG CPUs it competes with the kernel's
        # configuration of the device.
        "cpu_ms": plugged.cpu_ms,
    }


def faster_or_slower(difference_ms):
    return f"{abs(difference_ms):.0f} ms {'faster' if difference_ms < 0 else 'slower'}"


@scenario("race")
def race(lab):
    """The same hot-add, side by side in one run, against the daemon with a sysfs-only rule (port),
    the daemon with a udev-property rule (ID_SERIAL_SHORT) and the peer libvirt-hotplug-usb (port=4):
    each round runs the three one after the other, the order rotated each round. PASS when every
    attach and detach happened; the times are recorded (race.json, race.* timings), never asserted."""
    rounds = lab.race_rounds
    if rounds == 0:
        return "SKIP", "USB_LAB_RACE_ROUNDS=0"
    if lab.peer is None:
        return "SKIP", f"no peer binary: {lab.peer_error}"
    sysfs = lab.hotplugd.write_config("race-sysfs", machine(lab, [f'- port: "{HOTPLUG_KERNEL_NAME}"']), INTERVAL)
    udev_rule = ["- udev:", "    env:", "    - name: ID_SERIAL_SHORT", f"      pattern: '^{RACE_SERIAL_PREFIX}'"]
    udev = lab.hotplugd.write_config("race-udev", machine(lab, udev_rule), INTERVAL)

    def attacher(who, number):
        """(start, stop, alias to wait for, its PID once started) of WHO in round NUMBER."""
        daemon_pid, peer_pid = (lambda: lab.hotplugd.process.pid), (lambda: lab.peer.process.pid)
        if who == "daemon-sysfs":
            return (lambda: lab.hotplugd.start(f"race-sysfs-{number}", sysfs)), lab.hotplugd.stop, None, daemon_pid
        if who == "daemon-udev":
            return (lambda: lab.hotplugd.start(f"race-udev-{number}", udev)), lab.hotplugd.stop, None, daemon_pid
        return (lambda: lab.peer.start(f"race-{number}", lab.domain, f"port={HOTPLUG_PORT}")), lab.peer.stop, ANY_ALIAS, peer_pid

    report = {
        "rounds": rounds,
        "daemon": lab.hotplugd.binary,
        "peer": lab.peer.binary,
        "peer_version": lab.peer.version(),
        "rules": {
            "daemon-sysfs": f'port: "{HOTPLUG_KERNEL_NAME}"',
            "daemon-udev": f"udev env ID_SERIAL_SHORT pattern '^{RACE_SERIAL_PREFIX}'",
            "peer": f"-r port={HOTPLUG_PORT}",
        },
        "interval": INTERVAL,
        "per_round": [],
    }
    # The inner QEMU's first usb-host attach is slower than any after it (with --only race, this
    # is it): a leg of the peer's, not recorded, takes it before the rounds.
    race_leg(lab, "peer", 0, *attacher("peer", 0), record=False)
    for index in range(rounds):
        number = index + 1
        order = list(RACERS[index % len(RACERS):] + RACERS[:index % len(RACERS)])
        entry = {"round": number, "order": order}
        for who in order:
            try:
                entry[who] = race_leg(lab, who, number, *attacher(who, number))
            except LabError as error:
                report["per_round"].append(entry)
                lab.results.write_json("race.json", report)
                raise LabError(f"round {number}, {who}: {error}") from error
        report["per_round"].append(entry)
        lab.results.write_json("race.json", report)

    def median(who, key):
        return statistics.median(entry[who][key] for entry in report["per_round"])

    medians = {who: {key: median(who, key) for key in ("plug_to_attached_ms", "udev_broadcast_ms", "unplug_to_detached_ms", "kernel_configured_ms", "configured_to_attached_ms")} for who in RACERS}
    for who in RACERS:
        cpu = [entry[who]["cpu_ms"] for entry in report["per_round"]]
        names = sorted({name for leg in cpu for name, value in leg.items() if not isinstance(value, dict)})
        medians[who]["cpu_ms"] = {name: statistics.median(leg[name] for leg in cpu if name in leg) for name in names}
    broadcast = medians["daemon-udev"]["udev_broadcast_ms"]
    all_broadcasts = statistics.median(entry[who]["udev_broadcast_ms"] for entry in report["per_round"] for who in RACERS)
    sysfs_ms, udev_ms, peer_ms = (medians[who]["plug_to_attached_ms"] for who in RACERS)
    report["medians"] = medians
    report["udev_broadcast_median_ms"] = {"daemon-udev plugs": broadcast, "all plugs": all_broadcasts}
    report["comparison"] = {
        "sysfs_minus_peer_ms": round(sysfs_ms - peer_ms, 1),
        "udev_minus_broadcast_minus_peer_ms": round(udev_ms - broadcast - peer_ms, 1),
        # Issue 16's acceptance, recorded for the docs (no check asserts a time).
        "sysfs_no_slower_than_peer": sysfs_ms <= peer_ms,
        "udev_within_broadcast_of_peer": udev_ms - peer_ms <= broadcast,
    }
    lab.results.write_json("race.json", report)
    return "PASS", (
        f"{rounds} rounds, order rotated; plug -> attached medians: daemon sysfs rule {sysfs_ms:.0f} ms, "
        f"daemon udev rule {udev_ms:.0f} ms, peer {peer_ms:.0f} ms; udevd broadcast median {broadcast:.0f} ms "
        f"(udev-rule plugs; all plugs {all_broadcasts:.0f} ms); "
        f"sysfs rule vs peer: {faster_or_slower(sysfs_ms - peer_ms)}; "
        f"udev rule minus broadcast vs peer: {faster_or_slower(udev_ms - broadcast - peer_ms)}; "
        f"unplug -> detached medians {medians['daemon-sysfs']['unplug_to_detached_ms']:.0f}, "
        f"{medians['daemon-udev']['unplug_to_detached_ms']:.0f}, {medians['peer']['unplug_to_detached_ms']:.0f} ms; "
        f"the kernel's configuration (add -> bind) median {statistics.median(medians[who]['kernel_configured_ms'] for who in RACERS):.0f} ms, "
        f"bind -> attached medians {medians['daemon-sysfs']['configured_to_attached_ms']:.0f}, "
        f"{medians['daemon-udev']['configured_to_attached_ms']:.0f}, {medians['peer']['configured_to_attached_ms']:.0f} ms; "
        f"CPU from the plug to device-added medians (attacher, libvirtd): "
        + ", ".join(f"{who} {medians[who]['cpu_ms'].get('attacher', 0):.0f}, {medians[who]['cpu_ms'].get('libvirtd', 0):.0f} ms" for who in RACERS)
    )


# --- placement -----------------------------------------------------------------------------------


def run_once(lab, name, matchers, expected_names):
    """`run --once` with MATCHERS; waits for the device-added of each device in EXPECTED_NAMES and
    checks that the domain then holds exactly those."""
    config = lab.hotplugd.write_config(name, machine(lab, matchers), INTERVAL)
    mark = lab.libvirt.mark()
    completed = lab.hotplugd.run("-v", "run", "--once", config)
    with open(lab.results.file(f"daemon-{name}.log"), "w", encoding="utf-8") as out:
        out.write(completed.stderr + completed.stdout)
    if completed.returncode != 0:
        raise LabError(f"run --once exited with {completed.returncode}: {completed.stderr.strip()[-400:]}")
    aliases = [alias_of(kernel_name) for kernel_name in expected_names]
    for alias in aliases:
        lab.libvirt.wait_event("device-added", alias, mark, ATTACH_TIMEOUT)
    expect_hostdevs(lab, aliases, "after run --once")
    return aliases


@scenario("identity")
def identity(lab):
    """Of the keyboard and the tablet (identical ids, no serials) only the one the rule's port names."""
    tablet, keyboard = by_role("tablet"), by_role("keyboard")
    vendor, product = KEYBOARD_IDS
    matchers = [f"- vendor-id: 0x{vendor:04x}", f"  product-id: 0x{product:04x}", f'  port: "{tablet}"']
    aliases = run_once(lab, "identity", matchers, [tablet])
    if alias_of(keyboard) in lab.libvirt.info_usb():
        raise LabError(f"the keyboard {keyboard} is in the domain too")
    return "PASS", f"{tablet} attached as {aliases[0]}; {keyboard} (same ids {vendor:04x}:{product:04x}) not"


@scenario("hubs")
def hubs(lab):
    """A rule matching the hub (its port and everything behind it) attaches the devices behind it,
    never the hub."""
    hub = by_role("hub")
    behind = sorted(name for name in usb_devices() if name.startswith(hub + "."))
    if len(behind) != 3:
        raise LabError(f"expected three devices behind the hub {hub}, found {behind}")
    aliases = run_once(lab, "hubs", [f'- port: "{hub}.*"'], behind)
    if alias_of(hub) in lab.libvirt.info_usb():
        raise LabError(f"the hub {hub} is in the domain")
    return "PASS", f"rule port {hub}.*: {', '.join(behind)} attached ({', '.join(aliases)}), the hub {hub} not"


# --- the in-use guard ----------------------------------------------------------------------------


def supports_class_matchers(lab):
    """Whether the built binary's `check` accepts `interface-class` (the class matchers and the
    in-use guard come together)."""
    config = lab.hotplugd.write_config("probe-classes", machine(lab, ["- interface-class: 0x08"]), INTERVAL)
    return lab.hotplugd.run("check", config).returncode == 0


def block_device_of(kernel_name):
    found = glob.glob(f"/sys/bus/usb/devices/{kernel_name}/{kernel_name}:*/host*/target*/*/block/*")
    if len(found) != 1:
        raise LabError(f"expected one block device below {kernel_name}, found {found}")
    return os.path.basename(found[0])


@scenario("in-use")
def in_use(lab):
    """The USB disk, mounted, is not attached by a rule that matches it; unmounted (and a udev change
    event on it), it is."""
    if not supports_class_matchers(lab):
        return "SKIP", "the built binary's `check` rejects `interface-class` (the in-use guard is not merged yet)"
    disk = by_role("disk")
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True)
    block = block_device_of(disk)
    mountpoint = os.path.join(lab.scratch, "disk")
    os.makedirs(mountpoint, exist_ok=True)
    subprocess.run(["mount", "-o", "ro", f"/dev/{block}", mountpoint], check=True, timeout=60)
    try:
        vendor, product = DISK_IDS
        config = lab.hotplugd.write_config(
            "in-use", machine(lab, [f"- vendor-id: 0x{vendor:04x}", f"  product-id: 0x{product:04x}"]), INTERVAL
        )
        mark = lab.libvirt.mark()
        lab.hotplugd.start("in-use", config)
        report = lab.hotplugd.json("explain", "--json", config)
        placement = next((d.get("placement") for d in report["devices"] if d["port"] == disk), None)
        if placement != "in-use":
            raise LabError(f"mounted /dev/{block}: explain gives {disk} placement {placement!r}, expected 'in-use'")
        if lab.libvirt.hostdevs() or lab.libvirt.events_since(mark):
            raise LabError(f"mounted /dev/{block} was attached: {lab.libvirt.hostdevs()}")
    finally:
        subprocess.run(["umount", mountpoint], check=True, timeout=60)
    subprocess.run(["udevadm", "trigger", "--action=change", f"/sys/bus/usb/devices/{disk}"], check=True, timeout=60)
    lab.libvirt.wait_event("device-added", alias_of(disk), mark, ATTACH_TIMEOUT)
    expect_hostdevs(lab, [alias_of(disk)], "after the unmount")
    return "PASS", (
        f"mounted /dev/{block}: placement in-use, not attached; unmounted, then a change event: "
        f"attached as {alias_of(disk)}"
    )


def reset(lab):
    """Between scenarios: the daemon (and the peer) stopped, every hostdev detached, hot-plugged
    devices removed."""
    lab.hotplugd.stop()
    if lab.peer is not None:
        lab.peer.stop()
    lab.libvirt.detach_all()
    for device_id in sorted(lab.plugged):
        lab.host.unplug(device_id)
        lab.plugged.discard(device_id)
    subprocess.run(["udevadm", "settle", "--timeout=60"], check=True)
    if lab.libvirt.hostdevs():
        raise LabError(f"hostdevs left after the reset: {lab.libvirt.hostdevs()}")


# A scenario's check lines must name what it checks; keep the names short and stable (CI reads them).
assert all(re.fullmatch(r"[a-z-]+", name) for name, _ in SCENARIOS)
