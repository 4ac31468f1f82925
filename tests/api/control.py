"""Starts a real aureo-control, and a simulated VPN node that speaks the node
protocol over HTTP exactly as aureo-node does (enroll, heartbeat, session
reports, desired-state long-poll)."""
import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testutil  # noqa: E402

# Short cadences so failover and leader changes happen within seconds.
FAST = {
    "heartbeat": 1,
    "health": 1,
    "missed": 3,
    "lease": 3,
}


def database_url(path_or_url):
    if path_or_url.startswith("sqlite:") or "://" in path_or_url:
        return path_or_url
    return f"sqlite:{path_or_url}"


class Control:
    def __init__(self, binary, db_path, work_dir, name="control", extra_config=""):
        """db_path: a SQLite file, or any database.url (sqlite:..., postgres://...).
        extra_config is appended inside the [nodes] table; start it with a
        table header to set other options."""
        self.binary = binary
        self.dir = work_dir
        self.name = name
        self.config_path = os.path.join(work_dir, f"{name}.toml")
        self.log_path = os.path.join(work_dir, f"{name}.log")
        with open(self.config_path, "w") as f:
            # The gateway's data_dir: both must seal secrets with one master key.
            f.write(
                f'data_dir = "{work_dir}"\n'
                f'[database]\nurl = "{database_url(db_path)}"\n'
                f'[control]\ninstance_id = "{name}"\n'
                f'[leader]\nlease_period = "{FAST["lease"]}s"\n'
                f'[loops]\nhealth_interval = "{FAST["health"]}s"\n'
                f'missed_heartbeats = {FAST["missed"]}\n'
                'load_interval = "1s"\nstats_interval = "1s"\ncleanup_interval = "1h"\n'
                f'[nodes]\nheartbeat_interval = "{FAST["heartbeat"]}s"\n'
                'report_interval = "2s"\nlong_poll_timeout = "20s"\n'
                + extra_config)
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config_path, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"), text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited early: " + self.log_tail())
            m = re.search(r"Aureo VPN control: http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return self
        raise RuntimeError(f"{self.name} did not report its URL")

    def log_tail(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def request(self, method, path, body=None, token=None, timeout=30):
        return http_request(self.port, method, path, body, token, timeout)

    def status(self):
        status, body = self.request("GET", "/api/v1/control/status")
        assert status == 200, (status, body)
        return body


def http_request(port, method, path, body=None, token=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    data = None
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    parsed = None
    if payload and resp.getheader("Content-Type", "").startswith("application/json"):
        parsed = json.loads(payload)
    return resp.status, parsed


def random_wg_key():
    """A valid-looking WireGuard public key (32 random bytes, base64)."""
    return base64.b64encode(os.urandom(32)).decode()


def wait_for(what, predicate, timeout=30, interval=0.1):
    """testutil.wait_for with the API tests' shorter default timeout."""
    return testutil.wait_for(what, predicate, timeout, interval)


class SimNode:
    """A node agent without a data plane: it enrolls, heartbeats from a
    thread, long-polls desired-state and reports peer counters, all over
    HTTP against aureo-control."""

    def __init__(self, control_port, enrollment_token, hostname=None):
        self.port = control_port
        self.wg_public_key = random_wg_key()
        body = {"enrollment_token": enrollment_token, "wg_public_key": self.wg_public_key}
        if hostname:
            body["hostname"] = hostname
        status, reply = http_request(self.port, "POST", "/api/v1/node/enroll", body)
        assert status == 200, (status, reply)
        self.enroll_reply = reply
        self.node_id = reply["node_id"]
        self.credential = reply["node_credential"]
        self.config = reply["config"]
        self.cpu = 5.0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = None
        self.last_status = None

    def call(self, method, path, body=None, timeout=30):
        return http_request(self.port, method, path, body, self.credential, timeout)

    def heartbeat(self, status="online"):
        code, reply = self.call("POST", "/api/v1/node/heartbeat", {
            "status": status, "cpu_usage": self.cpu, "connections": 0,
            "bytes_sent": self.bytes, "bytes_received": self.bytes})
        assert code == 200, (code, reply)
        self.last_status = reply["node_status"]
        return reply["node_status"]

    def start_heartbeats(self, interval=0.3):
        self.heartbeat()

        def loop():
            while not self._stop.wait(interval):
                try:
                    self.heartbeat()
                except Exception:  # noqa: BLE001 - a dead control plane must not end the test thread
                    pass
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop_heartbeats(self):
        """The node dies: no more heartbeats."""
        self._stop.set()
        if self._thread:
            self._thread.join()

    def desired_state(self, version=None, wait=None, timeout=90):
        query = []
        if version is not None:
            query.append(f"version={version}")
        if wait is not None:
            query.append(f"wait={wait}")
        path = "/api/v1/node/desired-state" + ("?" + "&".join(query) if query else "")
        code, reply = self.call("GET", path, timeout=timeout)
        assert code == 200, (code, reply)
        return reply

    def report(self, peers):
        code, reply = self.call("POST", "/api/v1/node/sessions/report", {"peers": peers})
        assert code == 204, (code, reply)
