"""The lab guest's tools: results, waits, the host's hot-plug service, udev monitor, libvirt, the daemon.

Everything here runs inside the lab guest (a stock kernel with emulated USB devices, the host's root
read-only, tmpfs on /etc, /var, /tmp and /run). It writes only below the results directory; its
scratch files (daemon configurations, the libvirt overlays) live in the guest's own tmpfs.

Every wait is bounded and waits on a condition: a file appearing, a line from ``udevadm monitor``, a
libvirt domain event, a log line; none sleeps in the hope that something happened.

Example, from a scenario::

    seq = lab.host.plug("usb-kbd", port="4", id="lab-hot")
    added = lab.uevents.wait("KERNEL", "add", "1-4", after=mark)
    alias = lab.libvirt.wait_event("device-added", prefix="ua-hotplugd-", after=mark)
"""

import json
import os
import re
import signal
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree

import libvirt
import libvirt_qemu

POLL_SECONDS = 0.05


class LabError(Exception):
    """A step of a scenario that did not happen; its text is the check's detail."""


def monotonic():
    """CLOCK_MONOTONIC in seconds: the clock of `udevadm monitor` timestamps."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def wait_until(condition, timeout, what):
    """Polls CONDITION (a function) until it returns a true value, at most TIMEOUT seconds."""
    deadline = monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if monotonic() > deadline:
            raise LabError(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_SECONDS)


class Results:
    """The results directory: check lines, timings, logs. Check lines are written as they happen, so
    a guest that is stopped half-way still leaves what it found."""

    def __init__(self, path):
        self.path = path
        self.checks = open(os.path.join(path, "checks.txt"), "a", encoding="utf-8")
        self.timings = {}

    def file(self, name):
        return os.path.join(self.path, name)

    def check(self, status, name, detail):
        assert status in ("PASS", "FAIL", "SKIP")
        line = f"{status} {name}: {detail}"
        self.checks.write(line + "\n")
        self.checks.flush()
        log(line)

    def timing(self, name, seconds):
        self.timings.setdefault(name, []).append(round(seconds, 4))
        self.write_json("timings.json", self.timings)

    def write_json(self, name, value):
        temporary = self.file(name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
        os.rename(temporary, self.file(name))


def log(message):
    print(f"[{monotonic():10.3f}] {message}", flush=True)


class Host:
    """Hot-plug on the outer QEMU, through request files the host's qmp_server.py answers."""

    def __init__(self, results):
        self.requests = results.file("requests")
        self.responses = results.file("responses")
        os.makedirs(self.requests, exist_ok=True)
        self.seq = 0

    def request(self, command, arguments, timeout=60):
        self.seq += 1
        path = os.path.join(self.requests, f"{self.seq}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump({"command": command, "arguments": arguments}, out)
        os.rename(path + ".tmp", path)
        answer = os.path.join(self.responses, f"{self.seq}.json")
        wait_until(lambda: os.path.exists(answer), timeout, f"host answer to {command} {arguments}")
        with open(answer, encoding="utf-8") as file:
            response = json.load(file)
        if not response.get("ok"):
            raise LabError(f"host {command} {arguments}: {response.get('error')}")
        return response

    def plug(self, driver, **properties):
        """device_add DRIVER on the outer xHCI controller (properties: port, id, serial, …)."""
        return self.request("device_add", {"driver": driver, "bus": "xhci.0", **properties})

    def unplug(self, device_id):
        """device_del; answered once QEMU has removed the device."""
        return self.request("device_del", {"id": device_id})


class Uevents:
    """``udevadm monitor -k -u -s usb/usb_device`` for the whole run: every kernel and udev event of a
    USB device, with udevadm's CLOCK_MONOTONIC timestamp of its arrival."""

    LINE = re.compile(r"^(KERNEL|UDEV)\s*\[(\d+\.\d+)\]\s+(\S+)\s+(\S+)\s+\((\S+)\)")

    def __init__(self, log_path):
        self.events = []
        self.changed = threading.Condition()
        self.log = open(log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen(
            ["stdbuf", "-oL", "udevadm", "monitor", "--kernel", "--udev", "--subsystem-match=usb/usb_device"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            raise LabError("udevadm monitor did not start within 30 s")

    def _read(self):
        for line in self.process.stdout:
            self.log.write(line)
            self.log.flush()
            if line.startswith("UDEV - "):
                self.ready.set()
            match = self.LINE.match(line)
            if match:
                source, stamp, action, devpath, _subsystem = match.groups()
                with self.changed:
                    self.events.append((source, float(stamp), action, devpath))
                    self.changed.notify_all()

    def mark(self):
        with self.changed:
            return len(self.events)

    def wait(self, source, action, kernel_name, after, timeout=60):
        """The first SOURCE (KERNEL/UDEV) event ACTION of KERNEL_NAME since mark AFTER: (stamp, devpath)."""
        deadline = monotonic() + timeout
        with self.changed:
            while True:
                for event in self.events[after:]:
                    if event[0] == source and event[2] == action and event[3].rsplit("/", 1)[-1] == kernel_name:
                        return event[1], event[3]
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise LabError(f"no {source} {action} event of {kernel_name} within {timeout:g} s")
                self.changed.wait(remaining)

    def stop(self):
        stop_process(self.process, "udevadm monitor")


def stop_process(process, name, timeout=20):
    """SIGTERM, then SIGKILL after TIMEOUT seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} ignored SIGTERM for {timeout} s: killing it")
        process.kill()
        process.wait(10)


class Libvirt:
    """The guest's own libvirtd, one connection, the inner domain and its device events."""

    URI = "qemu:///system"
    SOCKET = "/run/libvirt/libvirt-sock"
    QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""

    def __init__(self, results, timings):
        self.results = results
        self.events = []
        self.changed = threading.Condition()
        self.daemon = None
        self.conn = None
        self.domain = None
        self.timings = timings

    def launch(self):
        """Starts libvirtd in empty tmpfs directories of the guest's own (it answers only after
        probing QEMU, about 20 s under TCG: `connect` waits for that)."""
        # Nothing of the host's libvirt configuration or state: empty tmpfs over every libvirt
        # directory (the host's domain definitions would otherwise show through the /etc overlay).
        for directory in ("/etc/libvirt/qemu", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt", "/run/libvirt"):
            os.makedirs(directory, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "usb-lab", directory], check=True)
        for directory in ("/var/log/libvirt/qemu", "/var/lib/libvirt/qemu", "/var/cache/libvirt/qemu"):
            os.makedirs(directory, exist_ok=True)
        with open("/etc/libvirt/qemu.conf", "w", encoding="utf-8") as conf:
            conf.write(self.QEMU_CONF)
        ensure_libvirt_qemu_user()
        self.launched = monotonic()
        environment = dict(os.environ, LIBVIRT_LOG_OUTPUTS=f"3:file:{self.results.file('libvirtd.log')}")
        self.daemon = subprocess.Popen(["libvirtd"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def connect(self, timeout):
        """Waits for libvirtd's socket, then for its first answer (bounded), and opens the connection."""
        if self.daemon is None:
            raise LabError("libvirtd was not started (see guest.log)")
        wait_until(lambda: os.path.exists(self.SOCKET) or self.daemon.poll() is not None, timeout, "libvirtd's socket")
        if self.daemon.poll() is not None:
            raise LabError(f"libvirtd exited with {self.daemon.returncode} (see libvirtd.log)")
        libvirt.registerErrorHandler(lambda _context, _error: None, None)
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=self._event_loop, daemon=True).start()
        # The first call blocks until the QEMU driver has probed QEMU: wait for it in a thread.
        opened = {}

        def open_connection():
            try:
                opened["conn"] = libvirt.open(self.URI)
            except libvirt.libvirtError as error:
                opened["error"] = error

        opener = threading.Thread(target=open_connection, daemon=True)
        opener.start()
        opener.join(max(1, timeout - (monotonic() - self.launched)))
        if "conn" not in opened:
            raise LabError(f"libvirtd does not answer at {self.URI} within {timeout} s: {opened.get('error', 'no answer')}")
        self.conn = opened["conn"]
        self.timings["libvirtd-ready"] = round(monotonic() - self.launched, 3)

    @staticmethod
    def _event_loop():
        while True:
            libvirt.virEventRunDefaultImpl()

    def create_domain(self, name):
        """Starts the transient inner domain: TCG, no OS (it idles in SeaBIOS), an xHCI controller."""
        xml = f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='qemu-xhci'/>
    <memballoon model='none'/>
  </devices>
</domain>"""
        started = monotonic()
        self.domain = self.conn.createXML(xml, 0)
        self.timings["inner-domain-start"] = round(monotonic() - started, 3)
        for event, name_ in ((libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, "device-added"), (libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, "device-removed")):
            self.conn.domainEventRegisterAny(self.domain, event, self._on_device_event, name_)

    def _on_device_event(self, _conn, _domain, alias, kind):
        stamp = monotonic()
        with self.changed:
            self.events.append((kind, stamp, alias))
            self.changed.notify_all()

    def mark(self):
        with self.changed:
            return len(self.events)

    def wait_event(self, kind, alias, after, timeout=60):
        """The monotonic time of the first KIND event of ALIAS (a str, or a compiled pattern) since
        mark AFTER: (stamp, alias)."""
        deadline = monotonic() + timeout
        with self.changed:
            while True:
                for event_kind, stamp, event_alias in self.events[after:]:
                    if event_kind == kind and (event_alias == alias if isinstance(alias, str) else alias.match(event_alias)):
                        return stamp, event_alias
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise LabError(f"no {kind} event for {getattr(alias, 'pattern', alias)} within {timeout:g} s")
                self.changed.wait(remaining)

    def events_since(self, after):
        with self.changed:
            return list(self.events[after:])

    def hostdevs(self):
        """The USB hostdevs of the live XML: dicts of alias, vendor, product, bus, device."""
        root = ElementTree.fromstring(self.domain.XMLDesc(0))
        found = []
        for hostdev in root.findall("./devices/hostdev[@type='usb']"):
            alias = hostdev.find("alias")
            address = hostdev.find("source/address")
            vendor = hostdev.find("source/vendor")
            product = hostdev.find("source/product")
            found.append({
                "alias": alias.get("name") if alias is not None else None,
                "vendor": int(vendor.get("id"), 16) if vendor is not None else None,
                "product": int(product.get("id"), 16) if product is not None else None,
                "bus": int(address.get("bus")) if address is not None else None,
                "device": int(address.get("device")) if address is not None else None,
            })
        return found

    def info_usb(self):
        """What `virsh qemu-monitor-command DOMAIN --hmp 'info usb'` prints (the same call)."""
        return libvirt_qemu.qemuMonitorCommand(self.domain, "info usb", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)

    def detach_all(self, timeout=60):
        """Detaches every USB hostdev of the inner domain and waits for libvirt's device-removed."""
        for hostdev in self.hostdevs():
            mark = self.mark()
            self.domain.detachDeviceAlias(hostdev["alias"], libvirt.VIR_DOMAIN_AFFECT_LIVE)
            self.wait_event("device-removed", hostdev["alias"], mark, timeout)

    def stop(self):
        if self.domain is not None:
            try:
                self.domain.destroy()
            except libvirt.libvirtError as error:
                log(f"could not stop the inner domain: {error}")
        if self.daemon is not None:
            stop_process(self.daemon, "libvirtd")


def ensure_libvirt_qemu_user():
    """libvirtd refuses to start without the `libvirt-qemu` user, even with user = "root"; where the
    host has none (a fresh machine), add it to the guest's /etc overlay."""
    with open("/etc/passwd", encoding="utf-8") as passwd:
        if any(line.startswith("libvirt-qemu:") for line in passwd):
            return
    with open("/etc/group", "a", encoding="utf-8") as group:
        group.write("libvirt-qemu:x:64055:\n")
    with open("/etc/passwd", "a", encoding="utf-8") as passwd:
        passwd.write("libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n")


class LoggedProcess:
    """A child process whose output goes to a log on the guest's tmpfs (a write to the results
    directory is a 9p round trip to the host, in the middle of what is timed), copied to the
    results when it is stopped."""

    WHAT = "the process"

    def __init__(self, binary, results, scratch):
        self.binary = binary
        self.results = results
        self.scratch = scratch
        self.process = None
        self.log_path = None
        self.log_file = None

    def launch(self, log_name, argv):
        """Starts ARGV, its output in SCRATCH/LOG_NAME."""
        self.log_path = os.path.join(self.scratch, log_name)
        self.log_file = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT)

    def stop(self):
        if self.process is not None:
            stop_process(self.process, self.WHAT)
            self.log_file.close()
            shutil.copy(self.log_path, self.results.file(os.path.basename(self.log_path)))
            self.process = None


class Hotplugd(LoggedProcess):
    """The built binary: one-shot commands, and the daemon as a child process."""

    WHAT = "the daemon"

    def write_config(self, name, machines_yaml, interval="60s"):
        """A configuration file in the guest's scratch directory; MACHINES_YAML is the `machines:` body."""
        path = os.path.join(self.scratch, f"{name}.yml")
        with open(path, "w", encoding="utf-8") as out:
            out.write(f"interval: {interval}\nlibvirt-uri: {Libvirt.URI}\nmachines:\n{machines_yaml}")
        return path

    def run(self, *arguments, timeout=120):
        completed = subprocess.run([self.binary, *arguments], capture_output=True, text=True, timeout=timeout)
        return completed

    def json(self, *arguments, timeout=120):
        completed = self.run(*arguments, timeout=timeout)
        if completed.returncode != 0:
            raise LabError(f"{' '.join(arguments)} exited with {completed.returncode}: {completed.stderr.strip()}")
        return json.loads(completed.stdout)

    def start(self, name, config):
        """Starts `-v run CONFIG`, logging to the results directory, and waits for its first reconcile."""
        self.launch(f"daemon-{name}.log", [self.binary, "-v", "run", config])
        self.wait_reconciles(1, timeout=120)

    def reconciles(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as daemon_log:
            return sum(1 for line in daemon_log if "reconciled:" in line)

    def warnings(self):
        """The daemon's WARN and ERROR lines so far: a plug or an unplug must cause none."""
        with open(self.log_path, encoding="utf-8", errors="replace") as daemon_log:
            return [line.strip() for line in daemon_log if " WARN " in line or " ERROR " in line]

    def wait_reconciles(self, count, timeout=60):
        """Waits until the daemon's log shows COUNT reconciles in all."""
        def done():
            if self.process.poll() is not None:
                raise LabError(f"the daemon exited with {self.process.returncode} (see {os.path.basename(self.log_path)})")
            return self.reconciles() >= count

        wait_until(done, timeout, f"reconcile {count} of the daemon")


class Peer(LoggedProcess):
    """libvirt-hotplug-usb, the race check's benchmark peer, as a child process: it attaches a
    matching device on the kernel's `add` uevent (read from its own netlink socket, no udev) and
    detaches it on the kernel's `remove`; libvirt names its hostdevs (`hostdev0`, ...)."""

    WHAT = "the peer"
    NETLINK_KOBJECT_UEVENT = 15
    # x86_64 syscall numbers: glibc's recv() is recvfrom(2).
    RECEIVING = {45: "recvfrom", 47: "recvmsg"}

    def version(self):
        completed = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=30)
        return completed.stdout.strip()

    def start(self, name, domain, rule, timeout=60):
        """Starts `-c URI -d DOMAIN -r RULE -v`, logging to RESULTS/peer-NAME.log, and waits until it
        is in its event loop (see `listening`)."""
        self.launch(f"peer-{name}.log", [self.binary, "-c", Libvirt.URI, "-d", domain, "-r", rule, "-v"])
        started = monotonic()
        wait_until(self.listening, timeout, f"the peer's event loop (see {os.path.basename(self.log_path)})")
        log(f"the peer (pid {self.process.pid}) receives on its uevent socket {monotonic() - started:.2f} s after its start")

    def netlink_sockets(self):
        """The inodes of the process's sockets that are kernel-uevent netlink sockets."""
        uevent_inodes = set()
        with open("/proc/net/netlink", encoding="utf-8") as netlink:
            next(netlink)  # sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
            for line in netlink:
                fields = line.split()
                if len(fields) >= 10 and int(fields[1]) == self.NETLINK_KOBJECT_UEVENT:
                    uevent_inodes.add(fields[9])
        found = {}
        directory = f"/proc/{self.process.pid}/fd"
        for fd in os.listdir(directory):
            try:
                target = os.readlink(os.path.join(directory, fd))
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and match.group(1) in uevent_inodes:
                found[int(fd)] = match.group(1)
        return found

    def listening(self):
        """Whether the peer has opened its uevent socket and finished its startup pass (connect to
        libvirt, stale sweep, scan): its main thread is blocked receiving on that socket. The peer
        opens the socket before the startup pass and receives only in its event loop; it prints no
        line when the pass ends, so its /proc/PID/syscall tells."""
        if self.process.poll() is not None:
            raise LabError(f"the peer exited with {self.process.returncode} (see {os.path.basename(self.log_path)})")
        try:
            sockets = self.netlink_sockets()
            with open(f"/proc/{self.process.pid}/syscall", encoding="ascii") as syscall:
                fields = syscall.read().split()
        except (OSError, ValueError):
            return False
        if not sockets or len(fields) < 2 or not fields[0].isdigit():
            return False  # "running", or not in a system call
        return int(fields[0]) in self.RECEIVING and int(fields[1], 16) in sockets


def cpu_ns_by_thread(pid):
    """The CPU time (ns) each thread of process PID has run so far (the first field of its
    /proc/PID/task/TID/schedstat), keyed by `TID name`; None when the process is gone."""
    threads = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as schedstat:
                ran = int(schedstat.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8", errors="replace") as comm:
                name = comm.read().strip()
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
        threads[f"{tid} {name}"] = ran
    return threads


def cpu_ns(pid):
    """The CPU time (ns) every thread of process PID has run so far, or None when it is gone."""
    threads = cpu_ns_by_thread(pid)
    return None if threads is None else sum(threads.values())


def wait_until_quiet(pid, what, timeout=30, interval=0.1, threshold_ns=1_000_000, intervals=3):
    """Waits until process PID has run less than THRESHOLD_NS of CPU time in each of INTERVALS
    consecutive INTERVAL-second samples (its start-up work done: it waits for events), at most
    TIMEOUT seconds. Returns how long it took."""
    started = monotonic()
    quiet = 0
    last = cpu_ns(pid)
    while quiet < intervals:
        if monotonic() - started > timeout:
            raise LabError(f"{what} (pid {pid}) is still busy {timeout} s after its start")
        time.sleep(interval)
        now = cpu_ns(pid)
        if now is None or last is None:
            raise LabError(f"{what} (pid {pid}) is gone")
        quiet = quiet + 1 if now - last < threshold_ns else 0
        last = now
    return monotonic() - started


def usb_devices():
    """The kernel names of every usb_device in sysfs, sorted."""
    names = []
    for name in os.listdir("/sys/bus/usb/devices"):
        if ":" in name:
            continue
        with open(f"/sys/bus/usb/devices/{name}/uevent", encoding="utf-8") as uevent:
            if "DEVTYPE=usb_device\n" in uevent.read():
                names.append(name)
    return sorted(names)


def attribute(kernel_name, name):
    with open(f"/sys/bus/usb/devices/{kernel_name}/{name}", encoding="utf-8", errors="replace") as file:
        return file.read().rstrip("\n")


def udev_properties(kernel_name):
    """`udevadm info --query=property` of a device, as a dict."""
    output = subprocess.run(
        ["udevadm", "info", "--query=property", f"--path=/sys/bus/usb/devices/{kernel_name}"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
