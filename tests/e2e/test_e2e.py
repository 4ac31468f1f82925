#!/usr/bin/env python3
"""The whole connect flow in network namespaces, with real processes only.

    internet ns            node ns                              client ns
    python http.server <-- veth --> aureo-node (NAT out)  <-- veth --> wireguard-go + wg
    192.0.2.1:8000         192.0.2.2   198.51.100.1                    198.51.100.2
                           aureo-control on 127.0.0.1:8090

aureo-gateway runs in the root namespace on loopback and shares the SQLite
file with aureo-control. The internet namespace has no route back to the
client or the tunnel prefix: only the node's masquerade makes replies return,
and the HTTP server's log shows which address it saw.

Every namespace, process and socket file a test creates is removed in its
cleanups, which run whether it passed or failed; processes are stopped by
PID. Needs root. Run:
  test_e2e.py --node build/bin/aureo-node --gateway build/bin/aureo-gateway \
              --control build/bin/aureo-control --server build/bin/aureo-server [unittest args]

AllInOneTest runs the same topology with aureo-server (gateway + control +
local node in one process) in the node namespace, its API on the edge veth.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from gateway import Gateway  # noqa: E402
from testutil import sh, wait_for  # noqa: E402,F401  (other tests import them from here)
from test_api import LOOSE_LIMITS  # noqa: E402

NODE = GATEWAY = CONTROL = SERVER = None
SOCKET_DIR = "/var/run/wireguard"
INTERNET_IP, NODE_UPLINK_IP = "192.0.2.1", "192.0.2.2"
NODE_EDGE_IP, CLIENT_IP = "198.51.100.1", "198.51.100.2"
HTTP_PORT = 8000
CONTROL_PORT = 8090
PAGE = "aureo end-to-end page\n"

PROBE = r"""
import socket, sys, time
deadline = time.time() + float(sys.argv[3])
while time.time() < deadline:
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
        print(repr(time.time()))
        sys.exit(0)
    except OSError:
        time.sleep(0.01)
    finally:
        s.close()
sys.exit(1)
"""


def wg_quick_parts(config):
    """Splits a wg-quick file into what `wg setconf` takes and the rest
    (Address, DNS), as wg-quick's strip does."""
    setconf, addresses, section = [], [], None
    for line in config.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
            setconf.append(stripped)
            continue
        if "=" not in stripped:
            continue
        key, value = (p.strip() for p in stripped.split("=", 1))
        if section == "[Interface]" and key == "Address":
            addresses += [a.strip() for a in value.split(",")]
        elif section == "[Interface]" and key in ("DNS", "MTU", "Table", "PostUp", "PreDown",
                                                   "PostDown", "PreUp", "SaveConfig"):
            continue
        else:
            setconf.append(f"{key} = {value}")
    return "\n".join(setconf) + "\n", addresses


class Lab:
    """Three namespaces, the servers and the processes of one test."""

    counter = 0

    def __init__(self, test, services=True, prefix="ae"):
        Lab.counter += 1
        tag = f"{os.getpid() % 10000}{Lab.counter}"
        self.test = test
        self.procs = []
        self.namespaces = []
        self.sockets = []
        self.files = []
        self.tmp_dir = tempfile.TemporaryDirectory(prefix="aureo_e2e_")
        self.tmp = self.tmp_dir.name
        test.addCleanup(self.close)
        self.ns_inet, self.ns_node, self.ns_client = (f"{prefix}{tag}i", f"{prefix}{tag}n",
                                                      f"{prefix}{tag}c")
        self.node_if, self.client_if = f"{prefix}n{tag}", f"{prefix}c{tag}"
        for ns in (self.ns_inet, self.ns_node, self.ns_client):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", "up0", "netns", self.ns_node, "type", "veth", "peer", "name",
           "wan0", "netns", self.ns_inet)
        sh("ip", "link", "add", "edge0", "netns", self.ns_node, "type", "veth", "peer", "name",
           "lan0", "netns", self.ns_client)
        for ns, dev, addr in ((self.ns_inet, "wan0", INTERNET_IP + "/24"),
                              (self.ns_node, "up0", NODE_UPLINK_IP + "/24"),
                              (self.ns_node, "edge0", NODE_EDGE_IP + "/24"),
                              (self.ns_client, "lan0", CLIENT_IP + "/24")):
            sh("ip", "addr", "add", addr, "dev", dev, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
        sh("ip", "route", "add", "default", "via", INTERNET_IP, ns=self.ns_node)

        self.www = os.path.join(self.tmp, "www")
        os.mkdir(self.www)
        with open(os.path.join(self.www, "hello.txt"), "w") as f:
            f.write(PAGE)
        self.http_log = os.path.join(self.tmp, "http.log")
        self.spawn(["ip", "netns", "exec", self.ns_inet, sys.executable, "-u", "-m", "http.server",
                    "--bind", INTERNET_IP, "--directory", self.www, str(HTTP_PORT)],
                   stdout=subprocess.DEVNULL, stderr=self.logfile(self.http_log))
        wait_for("http server", lambda: sh("curl", "-sf", "-o", "/dev/null",
                                           f"http://{INTERNET_IP}:{HTTP_PORT}/hello.txt",
                                           ns=self.ns_inet, check=False).returncode == 0)

        self.node = None
        self.node_log = os.path.join(self.tmp, "node.log")
        self.node_state = os.path.join(self.tmp, "node-state")
        self.client = None
        if not services:
            return
        self.gw = Gateway(GATEWAY, LOOSE_LIMITS + "[sessions]\nlimit_free = 5\n",
                          peer_ready_timeout="5s")
        test.addCleanup(self.gw.close)
        self.gw.start()
        self.admin = self.gw.admin_token()
        self.control = None
        self.control_log = os.path.join(self.tmp, "control.log")
        self.control_config = os.path.join(self.tmp, "control.toml")
        with open(self.control_config, "w") as f:
            f.write(f'data_dir = "{self.gw.dir}"\n'
                    f'[database]\nurl = "sqlite:{self.gw.db_path}"\n'
                    '[loops]\nhealth_interval = "1s"\nload_interval = "1s"\nstats_interval = "1s"\n'
                    '[nodes]\nheartbeat_interval = "1s"\nreport_interval = "1s"\n'
                    'long_poll_timeout = "20s"\nversion_poll_ms = 100\n')

    # -- processes ---------------------------------------------------------------

    def logfile(self, path):
        f = open(path, "a")
        self.files.append(f)
        return f

    def spawn(self, cmd, **kw):
        proc = subprocess.Popen(cmd, **kw)
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc, sig=signal.SIGTERM, timeout=30):
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def start_control(self):
        self.control = self.spawn(
            ["ip", "netns", "exec", self.ns_node, CONTROL, "--config", self.control_config,
             "--listen", f"127.0.0.1:{CONTROL_PORT}"],
            stdout=subprocess.PIPE, stderr=self.logfile(self.control_log), text=True)
        line = self.control.stdout.readline()
        if "Aureo VPN control:" not in line:
            raise AssertionError("control did not start: " + self.tail(self.control_log))

    def start_node(self, token=None, extra_env=None):
        args = ["ip", "netns", "exec", self.ns_node, NODE,
                "--control", f"http://127.0.0.1:{CONTROL_PORT}",
                "--state-dir", self.node_state, "--interface", self.node_if,
                "--hostname", NODE_EDGE_IP, "--metrics-listen", "127.0.0.1:9586",
                "--drain-wait", "1s", "--log-level", "debug"]
        if token:
            args += ["--enrollment-token", token]
        env = dict(os.environ, AUREO_INTERVALS_METRICS="1s", AUREO_INTERVALS_REPORT="1s",
                   **(extra_env or {}))
        self.node = self.spawn(args, stdout=subprocess.PIPE, stderr=self.logfile(self.node_log),
                               text=True, env=env)
        self.sockets.append(os.path.join(SOCKET_DIR, self.node_if + ".sock"))
        for _ in range(3):
            line = self.node.stdout.readline()
            if not line:
                raise AssertionError("aureo-node exited: " + self.tail(self.node_log))
            if "Aureo VPN node" in line and " up on " in line:
                return
        raise AssertionError("aureo-node did not come up: " + self.tail(self.node_log))

    def start_client(self):
        self.client = self.spawn(["ip", "netns", "exec", self.ns_client, "wireguard-go", "-f",
                                  self.client_if], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=dict(os.environ, LOG_LEVEL="error"))
        self.sockets.append(os.path.join(SOCKET_DIR, self.client_if + ".sock"))
        wait_for("wireguard-go", lambda: sh("ip", "link", "show", self.client_if,
                                            ns=self.ns_client, check=False).returncode == 0)

    def configure_client(self, wg_quick):
        """What wg-quick up does, by hand: setconf, addresses, link, routes."""
        setconf, addresses = wg_quick_parts(wg_quick)
        path = os.path.join(self.tmp, "client.conf")
        with open(path, "w") as f:
            f.write(setconf)
        os.chmod(path, 0o600)
        sh("wg", "setconf", self.client_if, path, ns=self.ns_client)
        sh("ip", "addr", "flush", "dev", self.client_if, ns=self.ns_client)
        for a in addresses:
            if ":" not in a:
                sh("ip", "addr", "add", a, "dev", self.client_if, ns=self.ns_client)
        sh("ip", "link", "set", self.client_if, "up", ns=self.ns_client)
        # The endpoint stays on lan0 through its more specific subnet route.
        sh("ip", "route", "replace", "default", "dev", self.client_if, ns=self.ns_client)

    def close(self):
        for proc in reversed(self.procs):
            self.stop(proc, signal.SIGTERM, timeout=15)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for f in self.files:
            f.close()
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for path in self.sockets:
            if os.path.exists(path):
                os.unlink(path)
        for name in ("node.log", "control.log", "http.log"):
            if os.environ.get("AUREO_E2E_KEEP"):
                subprocess.run(["cp", os.path.join(self.tmp, name), "/tmp/e2e-" + name])
        outcome = getattr(self.test, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            for name in ("node.log", "control.log", "http.log"):
                print(f"--- {name} ---\n" + self.tail(os.path.join(self.tmp, name)),
                      file=sys.stderr)
        self.tmp_dir.cleanup()

    @staticmethod
    def tail(path, n=6000):
        try:
            with open(path) as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # -- checks ------------------------------------------------------------------

    def api(self, method, path, body=None, token=None):
        status, reply, _, _ = self.gw.request(method, path, body, token=token or self.admin)
        return status, reply

    def fetch(self, timeout=3):
        """The page through the tunnel, or None."""
        r = sh("curl", "-s", "--max-time", str(timeout), f"http://{INTERNET_IP}:{HTTP_PORT}/hello.txt",
               ns=self.ns_client, check=False, timeout=timeout + 10)
        return r.stdout if r.returncode == 0 else None

    def probe(self, timeout):
        """Waits for a TCP connection through the tunnel; returns its wall time."""
        r = sh(sys.executable, "-c", PROBE, INTERNET_IP, HTTP_PORT, timeout, ns=self.ns_client,
               check=False, timeout=timeout + 10)
        return float(r.stdout.strip()) if r.returncode == 0 else None

    def node_peers(self):
        r = sh("wg", "show", self.node_if, "peers", ns=self.ns_node, check=False)
        return set(r.stdout.split()) if r.returncode == 0 else None

    def http_clients(self):
        with open(self.http_log) as f:
            return re.findall(r'^(\S+) - - .*"GET /hello.txt', f.read(), re.M)

    def node_metrics(self):
        r = sh("curl", "-sf", "http://127.0.0.1:9586/metrics", ns=self.ns_node, check=False)
        return r.stdout if r.returncode == 0 else None


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


class EndToEndTest(unittest.TestCase):
    def test_connect_flow_restarts_control_outage_and_disconnect(self):
        lab = Lab(self)
        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "e2e-node", "public_ip": NODE_EDGE_IP, "country": "NL", "city": "Amsterdam"})
        self.assertEqual(status, 201, node)
        lab.start_node(node["enrollment_token"])
        wait_for("node online", lambda: lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        node_key = lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["wg_public_key"]
        self.assertEqual(lab.node_peers(), set())

        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "e2e@example.test", "username": "e2e", "password": "correct horse battery"}, token="-")
        self.assertEqual(status, 201, reg)
        user = reg["access_token"]
        lab.start_client()

        # Connect: API call to the first TCP connection through the tunnel.
        started = time.time()
        status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "wireguard", "country": "NL"}, token=user)
        self.assertEqual(status, 201, created)
        self.assertIn(f"PublicKey = {node_key}", created["config"])
        # The gateway answered once the node (through another process's control
        # server) had the peer, so the client's first handshake is not dropped.
        self.assertTrue(created["peer_ready"], created)
        answered = time.time()
        lab.configure_client(created["config"])
        configured = time.time()
        first = lab.probe(timeout=30)
        self.assertIsNotNone(first, "no connection through the tunnel")
        print(f"\n  connect time (POST /api/v1/sessions to first TCP connection through the "
              f"tunnel): {(first - started) * 1000:.0f} ms (API answered after "
              f"{(answered - started) * 1000:.0f} ms, client configured after "
              f"{(configured - started) * 1000:.0f} ms)", file=sys.stderr)
        session = created["session"]

        # The page comes through the node, and the server saw the node's address.
        seen_before = len(lab.http_clients())
        self.assertEqual(lab.fetch(), PAGE)
        self.assertEqual(set(lab.http_clients()[seen_before:]), {NODE_UPLINK_IP})

        def my_session(sid):
            _, page = lab.api("GET", "/api/v1/user/sessions", token=user)
            return next(s for s in page["sessions"] if s["id"] == sid)
        s = wait_for("session connected with bytes", lambda: (
            lambda x: x if x["status"] == "connected" and x["bytes_sent"] > 0 and x["bytes_received"] > 0 else None)(
            my_session(session["id"])))
        self.assertEqual(s["status"], "connected")

        # The node's /metrics passes promtool and counts the connection.
        text = wait_for("node metrics", lambda: (lambda t: t if t and metric(t, "aureo_vpn_active_connections") == 1 else None)(lab.node_metrics()))
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreater(metric(text, 'aureo_vpn_data_transferred_bytes{direction="received"}'), 0)

        # A graceful restart (SIGTERM) and a crash (SIGKILL): the node rebuilds
        # its peers from the desired state, with no API call, and traffic resumes.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            code = lab.stop(lab.node, sig)
            if sig == signal.SIGTERM:
                self.assertEqual(code, 0, lab.tail(lab.node_log))
                self.assertNotEqual(sh("nft", "list", "table", "inet", "aureo-nat", ns=lab.ns_node,
                                       check=False).returncode, 0, "NAT table left behind")
                self.assertIn("final session report sent", lab.tail(lab.node_log, 100000))
            down = time.monotonic()
            lab.start_node()
            wait_for("peer rebuilt", lambda: lab.node_peers() == {session["client_public_key"]})
            self.assertIsNotNone(lab.probe(timeout=60), f"traffic did not resume after {sig.name}")
            print(f"  traffic resumed {time.monotonic() - down:.1f} s after {sig.name}", file=sys.stderr)
            self.assertEqual(lab.fetch(), PAGE)

        # Control goes away: the tunnel keeps forwarding.
        lab.stop(lab.control, signal.SIGKILL)
        for _ in range(3):
            self.assertEqual(lab.fetch(), PAGE)
            time.sleep(1)
        # A session created meanwhile (the gateway still works) is served
        # once control is back, without touching the node.
        status, second = lab.api("POST", "/api/v1/sessions", {"protocol": "wireguard", "country": "NL"}, token=user)
        self.assertEqual(status, 201, second)
        key2 = second["session"]["client_public_key"]
        time.sleep(1)
        self.assertNotIn(key2, lab.node_peers())
        lab.start_control()
        back = time.monotonic()
        wait_for("node caught up", lambda: lab.node_peers() == {session["client_public_key"], key2})
        print(f"  node caught up {time.monotonic() - back:.1f} s after control returned", file=sys.stderr)
        lab.configure_client(second["config"])
        self.assertIsNotNone(lab.probe(timeout=60), "the new session carries no traffic")
        self.assertEqual(lab.fetch(), PAGE)

        # DELETE removes the peer from the node within seconds; traffic stops.
        status, _ = lab.api("DELETE", f"/api/v1/sessions/{second['session']['id']}", token=user)
        self.assertIn(status, (200, 204))
        deleted = time.monotonic()
        wait_for("peer removed", lambda: key2 not in lab.node_peers(), timeout=30)
        print(f"  peer removed {time.monotonic() - deleted:.2f} s after DELETE", file=sys.stderr)
        self.assertIsNone(lab.fetch(timeout=2))
        self.assertEqual(my_session(second["session"]["id"])["status"], "disconnected")

        status, _ = lab.api("DELETE", f"/api/v1/sessions/{session['id']}", token=user)
        self.assertIn(status, (200, 204))
        s = my_session(session["id"])
        self.assertEqual(s["status"], "disconnected")
        self.assertGreater(s["bytes_sent"] + s["bytes_received"], 0)
        wait_for("no peers left", lambda: lab.node_peers() == set(), timeout=30)

        # SIGTERM leaves nothing behind in the node namespace.
        self.assertEqual(lab.stop(lab.node), 0)
        self.assertNotEqual(sh("ip", "link", "show", lab.node_if, ns=lab.ns_node, check=False).returncode, 0)
        self.assertEqual(sh("sysctl", "-n", "net.ipv4.ip_forward", ns=lab.ns_node).stdout.strip(), "0")

    def test_without_cap_net_admin_the_node_says_so_and_exits(self):
        with tempfile.TemporaryDirectory(prefix="aureo_e2e_") as tmp:
            r = subprocess.run(
                ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", NODE,
                 "--control", "http://127.0.0.1:1", "--state-dir", os.path.join(tmp, "state"),
                 "--interface", f"aex{os.getpid() % 10000}", "--enrollment-token", "unused",
                 "--metrics-listen", ""],
                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        lines = [line for line in r.stderr.splitlines() if line.startswith("aureo-node:")]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("cannot create the TUN device", lines[0])
        self.assertIn("CAP_NET_ADMIN", lines[0])


class AllInOneTest(unittest.TestCase):
    """aureo-server: gateway, control and a local node in one process."""

    def curl_api(self, lab, method, path, body=None, token=None):
        cmd = ["curl", "-s", "-X", method, "-w", "\n%{http_code}", "--max-time", "30"]
        if token:
            cmd += ["-H", "Authorization: Bearer " + token]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        r = sh(*cmd, f"http://{NODE_EDGE_IP}:8080{path}", ns=lab.ns_client)
        text, _, code = r.stdout.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)

    def test_one_process_serves_the_api_and_carries_the_tunnel(self):
        lab = Lab(self, services=False)
        data = os.path.join(lab.tmp, "data")
        env = dict(os.environ, AUREO_NODE_INTERFACE=lab.node_if, AUREO_RATELIMIT_AUTH_BURST="100")
        server = lab.spawn(["ip", "netns", "exec", lab.ns_node, SERVER, "--data-dir", data,
                            "--database", f"sqlite:{data}/aureo.db", "--listen", f"{NODE_EDGE_IP}:8080",
                            "--public-address", NODE_EDGE_IP],
                           stdout=subprocess.PIPE, stderr=lab.logfile(lab.node_log), text=True, env=env)
        lab.sockets.append(os.path.join(SOCKET_DIR, lab.node_if + ".sock"))
        lines = []
        while not any("Local VPN node" in line for line in lines):
            line = server.stdout.readline()
            self.assertTrue(line, "aureo-server exited: " + "".join(lines) + lab.tail(lab.node_log))
            lines.append(line)
        self.assertTrue(any(line.startswith("  Local VPN node: ") for line in lines), "".join(lines))

        status, reg = self.curl_api(lab, "POST", "/api/v1/auth/register", {
            "email": "one@example.test", "username": "one", "password": "correct horse battery"})
        self.assertEqual(status, 201, reg)
        lab.start_client()
        started = time.time()
        status, created = self.curl_api(lab, "POST", "/api/v1/sessions", {"protocol": "wireguard"},
                                        token=reg["access_token"])
        self.assertEqual(status, 201, created)
        self.assertIn(f"Endpoint = {NODE_EDGE_IP}:51820", created["config"])
        self.assertTrue(created["peer_ready"], created)
        lab.configure_client(created["config"])
        first = lab.probe(timeout=30)
        self.assertIsNotNone(first, "no connection through the local node")
        print(f"\n  all-in-one connect time: {(first - started) * 1000:.0f} ms", file=sys.stderr)
        seen_before = len(lab.http_clients())
        self.assertEqual(lab.fetch(), PAGE)
        self.assertEqual(set(lab.http_clients()[seen_before:]), {NODE_UPLINK_IP})

        self.assertEqual(lab.stop(server), 0, lab.tail(lab.node_log))
        self.assertNotEqual(sh("ip", "link", "show", lab.node_if, ns=lab.ns_node, check=False).returncode, 0)
        self.assertNotEqual(sh("nft", "list", "table", "inet", "aureo-nat", ns=lab.ns_node,
                               check=False).returncode, 0)

    def test_without_a_tun_device_the_api_is_still_served(self):
        with tempfile.TemporaryDirectory(prefix="aureo_e2e_") as tmp:
            env = dict(os.environ, AUREO_NODE_INTERFACE=f"aey{os.getpid() % 10000}")
            proc = subprocess.Popen(
                ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", SERVER,
                 "--data-dir", tmp, "--database", f"sqlite:{tmp}/aureo.db",
                 "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            try:
                lines, port = [], None
                while not any("Local VPN node" in line for line in lines):
                    line = proc.stdout.readline()
                    self.assertTrue(line, "aureo-server exited: " + "".join(lines))
                    lines.append(line)
                    m = re.search(r"Aureo VPN API: http://127\.0\.0\.1:(\d+)", line)
                    if m:
                        port = int(m.group(1))
                disabled = [line for line in lines if "Local VPN node disabled" in line]
                self.assertEqual(len(disabled), 1, "".join(lines))
                self.assertIn("CAP_NET_ADMIN", disabled[0])
                r = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/health"],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0)
                self.assertEqual(json.loads(r.stdout)["status"], "ok")
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=30), 0)
                proc.stdout.close()


def run_tests(*binaries):
    """The main() of the end-to-end test files: a required --NAME flag for
    each binary they start ("node", "gateway", ...) sets this module's
    NAME path; the other arguments go to unittest."""
    parser = argparse.ArgumentParser()
    for name in binaries:
        parser.add_argument("--" + name, required=True)
    args, rest = parser.parse_known_args()
    for name in binaries:
        globals()[name.upper()] = os.path.abspath(getattr(args, name))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    run_tests("node", "gateway", "control", "server")
