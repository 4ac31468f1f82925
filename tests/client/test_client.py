#!/usr/bin/env python3
"""`aureo-vpn connect|disconnect|status` in network namespaces, real processes only.

                 hub namespace (the "internet" and the client's ISP router)
                 aureo-server (API 198.51.100.1:8080, control 198.18.1.1:8091, no local node)
                 web server on :8000 answering with the source address it saw
                 DNS-ish UDP/TCP 53 listeners on 1.1.1.1, 1.0.0.1 and 192.0.2.53
     198.51.100.1 |                198.18.1.1 |                 198.18.2.1 |
     client ns    |                node A ns  |                 node B ns  |
     lan0 198.51.100.2             aureo-node 198.18.1.2        aureo-node 198.18.2.2
     aureo-vpn connect

Web targets live on the hub's loopback: 192.0.2.1 and 203.0.113.1, and the
IPv6 2001:db8:ffff::1. Each node masquerades tunnel traffic, so the source
address the hub's servers see tells which way a packet went: 198.18.1.2 via
node A, 198.18.2.2 via node B, 198.51.100.2 directly from the client.

The client runs under `nsenter --net` rather than `ip netns exec`, which
would hide the cgroup v2 mount the excluded-app feature needs; resolv.conf is
a file of the test's own (--resolv-conf), so the host's is never touched.
Every namespace, process, socket file and cgroup the test creates is removed
in cleanups that run whether it passed or failed; processes are stopped by PID.
Needs root. Run:
  test_client.py --cli build/bin/aureo-vpn --server build/bin/aureo-server \
                 --node build/bin/aureo-node [unittest args]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testutil  # noqa: E402

CLI = SERVER = NODE = None
SOCKET_DIR = "/var/run/wireguard"
API_IP, CLIENT_IP = "198.51.100.1", "198.51.100.2"
NODE_IPS = {"a": ("198.18.1.1", "198.18.1.2"), "b": ("198.18.2.1", "198.18.2.2")}
NODE_V6 = {"a": ("2001:db8:a::1", "2001:db8:a::2"), "b": ("2001:db8:b::1", "2001:db8:b::2")}
WEB_IN, WEB_OUT, WEB_V6 = "192.0.2.1", "203.0.113.1", "2001:db8:ffff::1"
FOREIGN_DNS = "192.0.2.53"
RESOLVERS = ("1.1.1.1", "1.0.0.1")
# Each node's dns_servers, which sessions on it offer (the lab's control runs
# with nodes.dns_resolver off, so configs name these instead of the node's own
# resolver): node A's in an order of its own, to tell them from the client's
# defaults; node B's a single one.
NODE_DNS = {"a": (RESOLVERS[1], RESOLVERS[0]), "b": (RESOLVERS[0],)}
WEB_PORT, API_PORT, CONTROL_PORT = 8000, 8080, 8091
PASSWORD = "correct horse battery staple"
ORIGINAL_RESOLV = "# the client's own resolv.conf\nnameserver 192.0.2.53\noptions edns0\n"

# Answers every GET with the address the request came from.
WEB_SERVER = r"""
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].removeprefix("::ffff:").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
s = S(("::", int(sys.argv[1])), H)
print("ready", flush=True)
s.serve_forever()
"""

# UDP and TCP port 53 on each given address: answers with "<address seen>".
DNS_SERVER = r"""
import select, socket, sys
socks = []
for addr in sys.argv[1:]:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, 53))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 53))
    t.listen(16)
    socks += [u, t]
print("ready", flush=True)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        if s.type == socket.SOCK_DGRAM:
            data, peer = s.recvfrom(2048)
            s.sendto(data[:2] + peer[0].encode(), peer)
        else:
            c, peer = s.accept()
            c.settimeout(2)
            try:
                c.recv(2048)
                c.sendall(peer[0].encode())
            except OSError:
                pass
            c.close()
"""

# One DNS-like exchange; prints what the server saw, exits 1 on failure.
DNS_PROBE = r"""
import socket, sys
proto, addr = sys.argv[1], sys.argv[2]
try:
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(b"\x12\x34probe", (addr, 53))
        print(s.recv(2048)[2:].decode())
    else:
        s = socket.create_connection((addr, 53), timeout=2)
        s.sendall(b"probe")
        print(s.recv(2048).decode())
except OSError as e:
    print(e, file=sys.stderr)
    sys.exit(1)
"""


def run(cmd, check=True, timeout=120, input_text=None, env=None):
    return testutil.sh(*cmd, check=check, timeout=timeout, input_text=input_text, env=env)


def wait_for(what, predicate, timeout=90, interval=0.2):
    return testutil.wait_for(what, predicate, timeout, interval)


class Lab:
    """The namespaces, servers, nodes and the signed-in client of one test."""

    counter = 0

    def __init__(self, test, nodes=("a",), node_ipv6=False):
        Lab.counter += 1
        self.tag = f"acl{os.getpid() % 1000}{Lab.counter}"
        self.test = test
        self.procs, self.namespaces, self.sockets, self.files, self.cgroups = [], [], [], [], []
        self.tmp = tempfile.mkdtemp(prefix="aureo_client_")
        test.addCleanup(self.close)
        self.hub, self.client = f"{self.tag}h", f"{self.tag}c"
        for ns in (self.hub, self.client):
            self.add_ns(ns)
        self.ip(self.hub, "link", "add", "hc0", "type", "veth", "peer", "name", "lan0",
                "netns", self.client)
        self.ip(self.hub, "addr", "add", API_IP + "/24", "dev", "hc0")
        self.ip(self.hub, "addr", "add", "2001:db8:c::1/64", "dev", "hc0", "nodad")
        self.ip(self.hub, "link", "set", "hc0", "up")
        self.ip(self.client, "addr", "add", CLIENT_IP + "/24", "dev", "lan0")
        self.ip(self.client, "addr", "add", "2001:db8:c::2/64", "dev", "lan0", "nodad")
        self.ip(self.client, "link", "set", "lan0", "up")
        self.ip(self.client, "route", "add", "default", "via", API_IP)
        self.ip(self.client, "-6", "route", "add", "default", "via", "2001:db8:c::1")
        # Strict reverse-path filtering, as many distributions set it: replies
        # to the engine's marked UDP must still come in.
        self.sysctl(self.client, "net.ipv4.conf.all.rp_filter=1")
        self.sysctl(self.client, "net.ipv4.conf.lan0.rp_filter=1")
        # Link-local addresses finish duplicate detection (and get their local
        # routes) on their own time; snapshots must not race with that.
        wait_for("IPv6 addresses settled", lambda: "tentative" not in (
            self.ip(self.client, "-6", "addr").stdout + self.ip(self.hub, "-6", "addr").stdout)
            and "fe80" in self.ip(self.client, "-6", "route", "show", "table", "local").stdout)
        for addr in (WEB_IN, WEB_OUT, FOREIGN_DNS) + RESOLVERS:
            self.ip(self.hub, "addr", "add", addr + "/32", "dev", "lo")
        self.ip(self.hub, "addr", "add", WEB_V6 + "/128", "dev", "lo")
        self.sysctl(self.hub, "net.ipv4.ip_forward=1")
        self.sysctl(self.hub, "net.ipv6.conf.all.forwarding=1")
        self.node_ns, self.node_if, self.node_proc, self.node_id = {}, {}, {}, {}
        for n in nodes:
            ns = f"{self.tag}{n}"
            self.node_ns[n] = ns
            self.add_ns(ns)
            hub_ip, node_ip = NODE_IPS[n]
            self.ip(self.hub, "link", "add", f"h{n}0", "type", "veth", "peer", "name", "up0",
                    "netns", ns)
            self.ip(self.hub, "addr", "add", hub_ip + "/24", "dev", f"h{n}0")
            self.ip(self.hub, "link", "set", f"h{n}0", "up")
            self.ip(ns, "addr", "add", node_ip + "/24", "dev", "up0")
            self.ip(ns, "link", "set", "up0", "up")
            self.ip(ns, "route", "add", "default", "via", hub_ip)
            if node_ipv6:
                self.ip(self.hub, "addr", "add", NODE_V6[n][0] + "/64", "dev", f"h{n}0", "nodad")
                self.ip(ns, "addr", "add", NODE_V6[n][1] + "/64", "dev", "up0", "nodad")
                self.ip(ns, "-6", "route", "add", "default", "via", NODE_V6[n][0])
        self.node_ipv6 = node_ipv6

        self.spawn_ready(self.hub, [sys.executable, "-u", "-c", WEB_SERVER, WEB_PORT])
        self.spawn_ready(self.hub, [sys.executable, "-u", "-c", DNS_SERVER, FOREIGN_DNS,
                                    *RESOLVERS])
        self.start_server()
        for n in nodes:
            self.start_node(n)
        self.config_home = os.path.join(self.tmp, "config")
        self.run_dir = os.path.join(self.tmp, "run")
        self.resolv = os.path.join(self.tmp, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write(ORIGINAL_RESOLV)
        email = f"{self.tag}@example.test"
        status, _ = self.api("POST", "/api/v1/auth/register",
                             {"email": email, "username": self.tag, "password": PASSWORD})
        assert status == 201, status
        self.cli("login", email, "--password-stdin", input_text=PASSWORD + "\n")

    # -- set-up helpers -------------------------------------------------------

    def add_ns(self, ns):
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        self.ip(ns, "link", "set", "lo", "up")

    @staticmethod
    def ip(ns, *args):
        return run(["ip", "-n", ns, *args])

    @staticmethod
    def sysctl(ns, setting):
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", setting])

    def logfile(self, name):
        f = open(os.path.join(self.tmp, name), "a")
        self.files.append(f)
        return f

    def spawn(self, cmd, **kw):
        proc = subprocess.Popen([str(c) for c in cmd], **kw)
        self.procs.append(proc)
        return proc

    def spawn_ready(self, ns, cmd):
        proc = self.spawn(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.PIPE,
                          stderr=self.logfile("helpers.log"), text=True)
        if proc.stdout.readline().strip() != "ready":
            raise AssertionError(f"{cmd[:3]} did not start: " + self.tail("helpers.log"))

    def start_server(self):
        data = os.path.join(self.tmp, "data")
        config = os.path.join(self.tmp, "server.toml")
        with open(config, "w") as f:
            f.write('[node]\nenabled = false\n'
                    '[sessions]\nlimit_free = 10\n'
                    '[ratelimit]\nauth_burst = 100\nauth_per_minute = 600\n'
                    '[loops]\nhealth_interval = "1s"\nload_interval = "1s"\n'
                    '[nodes]\nheartbeat_interval = "1s"\nreport_interval = "1s"\n'
                    'dns_resolver = false\n')
        self.server = self.spawn(
            ["ip", "netns", "exec", self.hub, SERVER, "--config", config, "--data-dir", data,
             "--database", f"sqlite:{data}/aureo.db", "--listen", f"{API_IP}:{API_PORT}",
             "--control-listen", f"{NODE_IPS['a'][0]}:{CONTROL_PORT}"],
            stdout=subprocess.PIPE, stderr=self.logfile("server.log"), text=True)
        password, lines = None, []
        while True:
            line = self.server.stdout.readline()
            if not line:
                raise AssertionError("aureo-server exited: " + "".join(lines) +
                                     self.tail("server.log"))
            lines.append(line)
            m = re.search(r"password: (\S+)", line)
            if m:
                password = m.group(1)
            if "Aureo VPN control:" in line:
                break
        status, reply = self.api("POST", "/api/v1/auth/login",
                                 {"email": "admin@aureo.local", "password": password})
        assert status == 200, reply
        self.admin = reply["access_token"]

    def start_node(self, n, restart=False):
        ns = self.node_ns[n]
        node_ip = NODE_IPS[n][1]
        token = None
        if not restart:
            body = {"name": f"node-{n}", "public_ip": node_ip, "country": "NL",
                    "dns_servers": ",".join(NODE_DNS[n])}
            if self.node_ipv6:
                body["tunnel_ipv6_cidr"] = f"fd00:{n}::/64"
            status, node = self.api("POST", "/api/v1/admin/nodes", body, token=self.admin)
            assert status == 201, node
            self.node_id[n] = node["id"]
            token = node["enrollment_token"]
            self.node_if[n] = f"{self.tag}n{n}"
        control = f"http://{NODE_IPS['a'][0]}:{CONTROL_PORT}"  # the hub routes node B there
        args = ["ip", "netns", "exec", ns, NODE, "--control", control,
                "--state-dir", os.path.join(self.tmp, f"node-{n}"), "--interface",
                self.node_if[n], "--hostname", node_ip, "--metrics-listen", "",
                "--drain-wait", "0s"]
        if token:
            args += ["--enrollment-token", token]
        proc = self.spawn(args, stdout=subprocess.PIPE, stderr=self.logfile(f"node-{n}.log"),
                          text=True)
        self.node_proc[n] = proc
        self.sockets.append(os.path.join(SOCKET_DIR, self.node_if[n] + ".sock"))
        for _ in range(5):
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("aureo-node exited: " + self.tail(f"node-{n}.log"))
            if " up on " in line:
                break
        wait_for(f"node {n} online", lambda: self.api(
            "GET", f"/api/v1/nodes/{self.node_id[n]}", token=self.admin)[1].get(
                "status") == "online")

    # -- running things -------------------------------------------------------

    def api(self, method, path, body=None, token=None):
        cmd = ["ip", "netns", "exec", self.hub, "curl", "-s", "-X", method, "-w", "\n%{http_code}",
               "--max-time", "30"]
        if token:
            cmd += ["-H", "Authorization: Bearer " + token]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        r = run(cmd + [f"http://{API_IP}:{API_PORT}{path}"])
        text, _, code = r.stdout.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)

    def in_client(self, *cmd):
        return ["nsenter", f"--net=/run/netns/{self.client}", *cmd]

    def cli(self, *args, check=True, input_text=None, timeout=120):
        env = dict(os.environ, XDG_CONFIG_HOME=self.config_home, HOME=self.tmp)
        r = run(self.in_client(CLI, "--server", f"http://{API_IP}:{API_PORT}", *args),
                check=False, input_text=input_text, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"aureo-vpn {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stdout}{r.stderr}\n--- daemon.log ---\n"
                                 + self.tail(os.path.join(self.run_dir, "daemon.log")))
        return r

    def connect(self, *args, check=True):
        self.test.addCleanup(self.force_disconnect)
        return self.cli("connect", "--interface", f"{self.tag}t", "--run-dir", self.run_dir,
                        "--resolv-conf", self.resolv, "--cgroup", f"aureo-test-{self.tag}",
                        "--handshake-timeout", "30", *args, check=check)

    def disconnect(self):
        return self.cli("disconnect", "--run-dir", self.run_dir)

    def status(self):
        r = self.cli("--json", "status", "--run-dir", self.run_dir)
        return json.loads(r.stdout)

    def force_disconnect(self):
        if os.path.exists(os.path.join(self.run_dir, "state.json")):
            self.cli("disconnect", "--run-dir", self.run_dir, check=False)

    def fetch(self, target, timeout=3, ns_cmd=None):
        """The address the web server saw, or None if the request failed."""
        host = f"[{target}]" if ":" in target else target
        r = run((ns_cmd or self.in_client)("curl", "-s", "--max-time", str(timeout),
                                           f"http://{host}:{WEB_PORT}/"),
                check=False, timeout=timeout + 30)
        return r.stdout.strip() if r.returncode == 0 else None

    def nameservers(self):
        with open(self.resolv) as f:
            return [line for line in f.read().splitlines() if line.startswith("nameserver")]

    def dns(self, proto, addr):
        r = run(self.in_client(sys.executable, "-c", DNS_PROBE, proto, addr), check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def snapshot(self):
        """Everything connect may touch in the client namespace."""
        out = {}
        for name, cmd in (("ruleset", ["nft", "-s", "list", "ruleset"]),
                          ("rules4", ["ip", "-4", "rule", "show"]),
                          ("rules6", ["ip", "-6", "rule", "show"]),
                          ("routes4", ["ip", "-4", "route", "show", "table", "all"]),
                          ("routes6", ["ip", "-6", "route", "show", "table", "all"])):
            out[name] = run(self.in_client(*cmd)).stdout
        out["src_valid_mark"] = run(self.in_client(
            "sysctl", "-n", "net.ipv4.conf.all.src_valid_mark")).stdout
        out["links"] = run(self.in_client("ip", "-br", "link")).stdout
        with open(self.resolv, "rb") as f:
            out["resolv.conf"] = f.read()
        out["resolv.mode"] = oct(os.stat(self.resolv).st_mode)
        return out

    def capture(self):
        """Starts tcpdump on the client's physical interface, for what the client
        sends (what arrives from the hub, e.g. its own multicast listener
        reports, is no leak); returns a stop function that gives the captured
        IP packets, one line each."""
        path = os.path.join(self.tmp, f"capture-{time.monotonic_ns()}.pcap")
        proc = self.spawn(["ip", "netns", "exec", self.client, "tcpdump", "-i", "lan0", "-n",
                           "-Q", "out", "-U", "-w", path, "ip or ip6"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # tcpdump says "listening on" once the capture is open.
        line = proc.stderr.readline()
        assert "listening" in line, line

        def stop():
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            r = run(["tcpdump", "-r", path, "-n", "-q"])
            return [line for line in r.stdout.splitlines() if line.strip()]
        return stop

    def daemon_pid(self):
        with open(os.path.join(self.run_dir, "state.json")) as f:
            return json.load(f)["pid"]

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for f in self.files:
            f.close()
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns], check=False)
        for path in self.sockets + [os.path.join(SOCKET_DIR, f"{self.tag}t.sock")]:
            if os.path.exists(path):
                os.unlink(path)
        for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            path = os.path.join(root, f"aureo-test-{self.tag}")
            if os.path.isdir(path):
                os.rmdir(path)
        outcome = getattr(self.test, "_outcome", None)
        if outcome is not None and not getattr(outcome, "success", True):
            for name in ("server.log", "node-a.log", "node-b.log", "helpers.log",
                         os.path.join(self.run_dir, "daemon.log")):
                print(f"--- {name} ---\n" + self.tail(name)[-4000:], file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tail(self, name):
        try:
            with open(os.path.join(self.tmp, name)) as f:
                return f.read()[-6000:]
        except OSError:
            return ""


def process_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def only_endpoint_udp(lines, endpoint_ip, port=51820):
    """The captured lines that are NOT UDP from the client to the endpoint."""
    ok = re.compile(rf"IP {re.escape(CLIENT_IP)}\.\d+ > {re.escape(endpoint_ip)}\.{port}: UDP")
    return [line for line in lines if not ok.search(line)]


class ClientTest(unittest.TestCase):
    maxDiff = None

    def test_kill_switch_holds_after_kill_9_and_disconnect_restores_everything(self):
        lab = Lab(self)
        node_ip = NODE_IPS["a"][1]
        before = lab.snapshot()
        # Without the VPN the client reaches everything directly.
        self.assertEqual(lab.fetch(WEB_IN), CLIENT_IP)
        self.assertEqual(lab.dns("udp", FOREIGN_DNS), CLIENT_IP)
        self.assertIsNotNone(lab.fetch(WEB_V6))

        out = lab.connect("--kill-switch").stdout
        self.assertIn("Connected to node-a", out)
        self.assertIn("Kill switch on", out)
        st = lab.status()
        self.assertTrue(st["connected"])
        self.assertEqual(st["node"]["name"], "node-a")
        self.assertEqual(st["endpoint"], f"{node_ip}:51820")
        self.assertEqual(st["protections"]["ipv6"], "blocked")
        self.assertIsNotNone(st["last_handshake_age_s"])
        # The resolvers the session offers, in the node's order.
        self.assertEqual(lab.nameservers(), [f"nameserver {r}" for r in NODE_DNS["a"]])
        text = lab.cli("status", "--run-dir", lab.run_dir).stdout
        for field in ("node-a", f"{node_ip}:51820", "Last handshake", "Kill switch", "blocked"):
            self.assertIn(field, text)

        # Connected: the page comes through node A, DNS to the configured
        # resolvers goes through the tunnel, and the wire shows only UDP to
        # the endpoint.
        stop = lab.capture()
        self.assertEqual(lab.fetch(WEB_IN), node_ip)
        self.assertEqual(lab.dns("udp", RESOLVERS[0]), node_ip)
        self.assertIsNone(lab.dns("udp", FOREIGN_DNS), "DNS to a foreign server leaked")
        self.assertIsNone(lab.dns("tcp", FOREIGN_DNS), "TCP DNS to a foreign server leaked")
        self.assertIsNone(lab.fetch(WEB_V6), "IPv6 leaked")
        lines = stop()
        self.assertTrue(lines, "nothing captured at all")
        self.assertEqual(only_endpoint_udp(lines, node_ip), [])
        st = lab.status()
        self.assertGreater(st["rx_bytes"], 0)
        self.assertGreater(st["tx_bytes"], 0)

        # kill -9: the tunnel is gone, the kill switch is not.
        pid = lab.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for("daemon gone", lambda: not process_alive(pid))
        stop = lab.capture()
        self.assertIsNone(lab.fetch(WEB_IN), "reached the web after the daemon died")
        self.assertIsNone(lab.fetch(WEB_OUT), "reached the web after the daemon died")
        self.assertIsNone(lab.dns("udp", FOREIGN_DNS))
        self.assertIsNone(lab.dns("tcp", FOREIGN_DNS))
        self.assertIsNone(lab.dns("udp", RESOLVERS[0]))
        self.assertIsNone(lab.fetch(WEB_V6))
        lines = stop()
        self.assertEqual(only_endpoint_udp(lines, node_ip), [])
        st = lab.status()
        self.assertFalse(st["connected"])
        self.assertEqual(st["phase"], "daemon-dead")
        session_id = st["session_id"]
        # A new connect will not paper over the dead one.
        r = lab.connect(check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("run `aureo-vpn disconnect` to clean up first", r.stderr)

        # disconnect: everything as before, byte for byte, and the session ended.
        out = lab.disconnect().stdout
        self.assertIn("Disconnected", out)
        after = lab.snapshot()
        self.assertEqual(after, before)
        self.assertEqual(lab.fetch(WEB_IN), CLIENT_IP)
        self.assertEqual(lab.status(), {"connected": False})
        status, page = lab.api("GET", f"/api/v1/admin/sessions?limit=50", token=lab.admin)
        mine = [s for s in page["sessions"] if s["id"] == session_id]
        self.assertEqual(mine[0]["status"], "disconnected")
        self.assertNotEqual(lab.cli("disconnect", "--run-dir", lab.run_dir, check=False)
                            .returncode, 0)

    def test_clean_daemon_stop_and_second_connect_refused_while_connected(self):
        lab = Lab(self)
        before = lab.snapshot()
        lab.connect("--kill-switch", "--allow-lan", "--dns", RESOLVERS[1])
        self.assertEqual(lab.dns("udp", RESOLVERS[1]), NODE_IPS["a"][1])
        self.assertIsNone(lab.dns("udp", RESOLVERS[0]), "DNS to an unconfigured resolver")
        r = lab.connect(check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already connected", r.stderr)
        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)

    def test_a_connect_without_handshake_fails_plainly_and_leaves_nothing_behind(self):
        lab = Lab(self)
        before = lab.snapshot()
        # The node stays online for the API but its WireGuard port is dead.
        run(["ip", "netns", "exec", lab.node_ns["a"], "nft", "-f", "-"], input_text=(
            "table inet acl-block {\n chain input {\n  type filter hook input priority -10;"
            " policy accept;\n  udp dport 51820 drop\n }\n}\n"))
        r = lab.cli("connect", "--kill-switch", "--interface", f"{lab.tag}t", "--run-dir",
                    lab.run_dir, "--resolv-conf", lab.resolv, "--handshake-timeout", "3",
                    check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no handshake with node node-a", r.stderr)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertEqual(lab.snapshot(), before)
        self.assertEqual(lab.status(), {"connected": False})
        status, page = lab.api("GET", "/api/v1/admin/sessions?limit=50", token=lab.admin)
        self.assertTrue(page["sessions"])
        self.assertEqual({s["status"] for s in page["sessions"]}, {"disconnected"})

    def test_ipv6_goes_through_the_tunnel_when_the_node_offers_it(self):
        lab = Lab(self, node_ipv6=True)
        before = lab.snapshot()
        self.assertEqual(lab.fetch(WEB_V6), "2001:db8:c::2")
        out = lab.connect("--kill-switch").stdout
        self.assertIn("IPv6 through the tunnel", out)
        st = lab.status()
        self.assertEqual(st["protections"]["ipv6"], "tunneled")
        self.assertEqual(len(st["tunnel_addresses"]), 2)
        stop = lab.capture()
        self.assertEqual(lab.fetch(WEB_V6), NODE_V6["a"][1])
        self.assertEqual(lab.fetch(WEB_IN), NODE_IPS["a"][1])
        self.assertEqual(only_endpoint_udp(stop(), NODE_IPS["a"][1]), [])
        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)

    def test_split_include_and_exclude_send_exactly_the_chosen_prefixes(self):
        lab = Lab(self)
        node_ip = NODE_IPS["a"][1]
        before = lab.snapshot()

        lab.connect("--split-include", f"{WEB_IN}/32")
        self.assertEqual(lab.fetch(WEB_IN), node_ip)
        self.assertEqual(lab.fetch(WEB_OUT), CLIENT_IP)
        # DNS to the resolvers is tunnelled even though they are not included.
        self.assertEqual(lab.dns("udp", RESOLVERS[0]), node_ip)
        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)

        out = lab.connect("--kill-switch", "--split-exclude", "203.0.113.0/24").stdout
        self.assertIn("203.0.113.0/24 outside the tunnel", out)
        self.assertEqual(lab.fetch(WEB_IN), node_ip)
        self.assertEqual(lab.fetch(WEB_OUT), CLIENT_IP)
        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)

    def test_an_excluded_application_goes_around_the_tunnel(self):
        lab = Lab(self)
        node_ip = NODE_IPS["a"][1]
        before = lab.snapshot()
        seen_file = os.path.join(lab.tmp, "excluded.txt")
        lab.connect("--kill-switch", "--exclude-app",
                    f"curl -s --max-time 10 http://{WEB_IN}:{WEB_PORT}/ > {seen_file}.part && "
                    f"mv {seen_file}.part {seen_file}")
        wait_for("the excluded app's answer", lambda: os.path.exists(seen_file))
        with open(seen_file) as f:
            self.assertEqual(f.read().strip(), CLIENT_IP)
        # Everything else still goes through the tunnel...
        self.assertEqual(lab.fetch(WEB_IN), node_ip)
        # ...and `aureo-vpn exclude -- CMD` runs a command outside it.
        env = dict(os.environ, XDG_CONFIG_HOME=lab.config_home)
        r = run(lab.in_client(CLI, "exclude", "--run-dir", lab.run_dir, "--", "curl", "-s",
                              "--max-time", "10", f"http://{WEB_IN}:{WEB_PORT}/"), env=env)
        self.assertEqual(r.stdout.strip(), CLIENT_IP)
        # Excluded apps resolve names outside the tunnel too; others through it.
        r = run(lab.in_client(CLI, "exclude", "--run-dir", lab.run_dir, "--", sys.executable,
                              "-c", DNS_PROBE, "udp", RESOLVERS[0]), env=env)
        self.assertEqual(r.stdout.strip(), CLIENT_IP)
        self.assertEqual(lab.dns("udp", RESOLVERS[0]), node_ip)
        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)
        cgroups = [os.path.join(root, f"aureo-test-{lab.tag}")
                   for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")]
        self.assertFalse(any(os.path.isdir(p) for p in cgroups), "cgroup left behind")

    def test_reconnects_to_the_second_node_when_the_first_dies(self):
        lab = Lab(self, nodes=("a", "b"))
        before = lab.snapshot()
        lab.connect("--kill-switch", "--node", "node-a", "--stale-after", "6")
        self.assertEqual(lab.fetch(WEB_IN), NODE_IPS["a"][1])
        first_session = lab.status()["session_id"]

        lab.node_proc["a"].send_signal(signal.SIGKILL)
        lab.node_proc["a"].wait(timeout=30)
        st = wait_for("reconnected to node B", lambda: (lambda s: s if s.get("connected") and
                      s["node"]["name"] == "node-b" else None)(lab.status()), timeout=120)
        self.assertEqual(st["endpoint"], f"{NODE_IPS['b'][1]}:51820")
        self.assertTrue(st["protections"]["kill_switch"])
        self.assertEqual(wait_for("traffic through node B",
                                  lambda: lab.fetch(WEB_IN) == NODE_IPS["b"][1]), True)
        # The kill switch now allows node B's endpoint only: nothing else on the wire.
        stop = lab.capture()
        self.assertEqual(lab.fetch(WEB_IN), NODE_IPS["b"][1])
        self.assertIsNone(lab.dns("udp", FOREIGN_DNS))
        self.assertEqual(only_endpoint_udp(stop(), NODE_IPS["b"][1]), [])
        # Node B's resolvers replaced node A's: in resolv.conf, and the only
        # DNS let through (through node B).
        self.assertEqual(lab.nameservers(), [f"nameserver {r}" for r in NODE_DNS["b"]])
        self.assertEqual(lab.dns("udp", RESOLVERS[0]), NODE_IPS["b"][1])
        self.assertIsNone(lab.dns("udp", RESOLVERS[1]), "DNS to node A's resolver after the move")
        status, page = lab.api("GET", "/api/v1/admin/sessions?limit=50", token=lab.admin)
        by_id = {s["id"]: s for s in page["sessions"]}
        self.assertEqual(by_id[first_session]["status"], "disconnected")

        lab.disconnect()
        self.assertEqual(lab.snapshot(), before)


def main():
    global CLI, SERVER, NODE
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--node", required=True)
    args, rest = parser.parse_known_args()
    CLI, SERVER, NODE = (os.path.abspath(p) for p in (args.cli, args.server, args.node))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
