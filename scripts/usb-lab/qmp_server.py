#!/usr/bin/env python3
"""Serves the lab guest's hot-plug requests on the outer QEMU's QMP socket (host side).

The guest cannot reach the host's QMP socket, so the two talk through the one directory the guest may
write to (the results directory, shared over 9p):

* the guest writes ``requests/<seq>.json``, ``{"command": "device_add", "arguments": {...}}`` or
  ``{"command": "device_del", "arguments": {"id": ...}}`` (written to a temporary name, then
  renamed, so a request is never read half-written);
* this server runs it on QMP and answers in ``responses/<seq>.json``:
  ``{"ok": true}`` or ``{"ok": false, "error": "..."}``. A ``device_del`` is answered once QEMU has
  sent ``DEVICE_DELETED`` for that id (the device is gone from the emulated bus), so that a re-add
  with the same id cannot race the removal.

Requests are served in sequence order, one at a time. Only ``device_add`` and ``device_del`` are
accepted. The server stops when QEMU closes the socket (the guest powered off) or at its deadline.
It also notes in ``host-timings.json`` how long after its own start (right after QEMU's) the guest's
lab program began (it writes ``expected-checks`` first).

    qmp_server.py QMP_SOCKET RESULTS_DIR DEADLINE_EPOCH_SECONDS
"""

import json
import os
import select
import socket
import sys
import time

ALLOWED = {"device_add", "device_del"}
POLL_SECONDS = 0.02
DELETE_TIMEOUT_SECONDS = 30.0


class QmpClosed(Exception):
    """QEMU closed the QMP connection."""


class Qmp:
    """A minimal QMP client: one command at a time, events kept until asked for."""

    def __init__(self, path, deadline):
        self.sock = None
        while self.sock is None:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(path)
                self.sock = sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.time() > deadline:
                    raise TimeoutError(f"no QMP socket at {path} before the deadline")
                time.sleep(POLL_SECONDS)
        self.buffer = b""
        self.events = []
        self.read_message(deadline)  # the greeting
        self.execute("qmp_capabilities", {}, deadline)

    def read_message(self, deadline):
        while b"\n" not in self.buffer:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError("QMP did not answer before the deadline")
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpClosed()
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments, deadline):
        self.sock.sendall(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
        while True:
            message = self.read_message(deadline)
            if "event" in message:
                self.events.append(message)
            elif "return" in message:
                return message["return"]
            elif "error" in message:
                error = message["error"]
                raise RuntimeError(f"{error.get('class')}: {error.get('desc')}")

    def pump_events(self):
        """Reads whatever events are waiting, without blocking."""
        while True:
            ready, _, _ = select.select([self.sock], [], [], 0)
            if not ready and b"\n" not in self.buffer:
                return
            self.events.append(self.read_message(time.time() + 5))

    def wait_deleted(self, device_id, deadline):
        while True:
            for index, event in enumerate(self.events):
                if event.get("event") == "DEVICE_DELETED" and event.get("data", {}).get("device") == device_id:
                    del self.events[index]
                    return
            message = self.read_message(deadline)
            if "event" in message:
                self.events.append(message)


def write_atomically(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(value, file)
    os.rename(temporary, path)


def serve(qmp, results, deadline, log, started):
    requests = os.path.join(results, "requests")
    responses = os.path.join(results, "responses")
    os.makedirs(requests, exist_ok=True)
    os.makedirs(responses, exist_ok=True)
    seq = 1
    guest_started = False
    while time.time() < deadline:
        if not guest_started and os.path.exists(os.path.join(results, "expected-checks")):
            guest_started = True
            write_atomically(os.path.join(results, "host-timings.json"), {"guest-program-started": round(time.time() - started, 1)})
        path = os.path.join(requests, f"{seq}.json")
        if not os.path.exists(path):
            qmp.pump_events()
            time.sleep(POLL_SECONDS)
            continue
        with open(path, encoding="utf-8") as file:
            request = json.load(file)
        command = request.get("command")
        arguments = request.get("arguments", {})
        started = time.time()
        try:
            if command not in ALLOWED:
                raise RuntimeError(f"{command!r} is not a lab request (allowed: {sorted(ALLOWED)})")
            qmp.execute(command, arguments, deadline)
            if command == "device_del":
                qmp.wait_deleted(arguments["id"], min(deadline, time.time() + DELETE_TIMEOUT_SECONDS))
            response = {"ok": True}
        except (RuntimeError, KeyError, TimeoutError) as error:
            response = {"ok": False, "error": str(error)}
        response["seconds"] = round(time.time() - started, 3)
        log.write(f"{seq} {json.dumps(request)} -> {json.dumps(response)}\n")
        log.flush()
        write_atomically(os.path.join(responses, f"{seq}.json"), response)
        seq += 1
    raise TimeoutError("deadline reached")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    socket_path, results, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
    started = time.time()
    with open(os.path.join(results, "qmp.log"), "w", encoding="utf-8") as log:
        try:
            qmp = Qmp(socket_path, deadline)
            log.write("connected\n")
            log.flush()
            serve(qmp, results, deadline, log, started)
        except QmpClosed:
            log.write("QEMU closed the QMP socket: the guest is off\n")
        except TimeoutError as error:
            log.write(f"stopped: {error}\n")
            sys.exit(1)


if __name__ == "__main__":
    main()
