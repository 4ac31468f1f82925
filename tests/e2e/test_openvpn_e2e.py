#!/usr/bin/env python3
"""OpenVPN end to end in network namespaces, with the stock `openvpn` client.

Same topology as test_e2e.py (its Lab, with namespaces prefixed "ovpn"):

    internet ns            node ns                              client ns
    python http.server <-- veth --> aureo-node (openvpn under   <-- veth --> openvpn client
    192.0.2.1:8000         192.0.2.2   the supervisor, NAT out)  198.51.100.1 / .2
                           aureo-control on 127.0.0.1:8090

The client uses the .ovpn profile POST /api/v1/sessions returns, unchanged.
The client namespace's default route points at the node, but the node only
masquerades tunnel addresses and the internet namespace has no route back to
the client's link: a page fetched through the tunnel proves the tunnel.

Run as root:
  test_openvpn_e2e.py --node build/bin/aureo-node --gateway build/bin/aureo-gateway \\
                      --control build/bin/aureo-control [unittest args]
"""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_e2e  # noqa: E402
from test_e2e import (INTERNET_IP, HTTP_PORT, NODE_EDGE_IP, NODE_UPLINK_IP, PAGE, Lab,  # noqa: E402
                      metric, sh, wait_for)

OPENVPN = "/usr/sbin/openvpn"
# Short keepalive so a client notices a killed daemon quickly; the waits
# below are upper bounds for a hang, never what a test asserts on.
NODE_ENV = {"AUREO_OPENVPN_KEEPALIVE_INTERVAL": "2", "AUREO_OPENVPN_KEEPALIVE_TIMEOUT": "10"}


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


EDGE_V6 = ("2001:db8:e::1", "2001:db8:e::2")  # node edge, client LAN (IPv6 client)


class OpenVpnClient:
    """The stock openvpn client in the client namespace, with its own log."""

    def __init__(self, lab, name, profile, dev):
        self.lab = lab
        self.profile_path = os.path.join(lab.tmp, name + ".ovpn")
        with open(self.profile_path, "w") as f:
            f.write(profile)
        os.chmod(self.profile_path, 0o600)
        self.log_path = os.path.join(lab.tmp, name + ".log")
        self.dev = dev
        # Options after --config override the profile's: a device name of
        # our own so two clients never fight over tun0.
        self.proc = lab.spawn(["ip", "netns", "exec", lab.ns_client, OPENVPN,
                               "--config", self.profile_path, "--dev", dev, "--dev-type", "tun",
                               "--log", self.log_path],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log(self):
        return read(self.log_path)

    def connections(self):
        return self.log().count("Initialization Sequence Completed")

    def exited(self):
        return self.proc.poll() is not None

    def has_device(self):
        return sh("ip", "link", "show", self.dev, ns=self.lab.ns_client, check=False).returncode == 0


class OpenVpnEndToEndTest(unittest.TestCase):
    def test_profile_from_the_api_connects_is_accounted_survives_sigkill_and_is_kicked(self):
        lab = Lab(self, prefix="ovpn")
        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "ovpn-node", "public_ip": NODE_EDGE_IP, "country": "NL", "city": "Amsterdam",
            "protocols": ["wireguard", "openvpn"]})
        self.assertEqual(status, 201, node)
        lab.start_node(node["enrollment_token"], extra_env=NODE_ENV)
        wait_for("node online",
                 lambda: lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        wait_for("openvpn daemon up", lambda: '"openvpn up"' in lab.tail(lab.node_log, 10**6))
        config_path = os.path.join(lab.node_state, "openvpn-server.conf")

        def daemon_pid():
            # The daemon this node started: matched on its own config path.
            r = subprocess.run(["pgrep", "-f", "--", "--config " + config_path],
                               capture_output=True, text=True)
            pids = [int(p) for p in r.stdout.split()]
            return pids[0] if len(pids) == 1 else None

        first_pid = wait_for("daemon pid", daemon_pid)

        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "ovpn@example.test", "username": "ovpn", "password": "correct horse battery"},
            token="-")
        self.assertEqual(status, 201, reg)
        user = reg["access_token"]

        status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "openvpn"}, token=user)
        self.assertEqual(status, 201, created)
        session = created["session"]
        profile = created["config"]
        self.assertEqual(session["protocol"], "openvpn")
        self.assertEqual(session["status"], "pending")
        self.assertIn(f"remote {NODE_EDGE_IP} 1194 udp", profile)
        for block in ("<ca>", "<tls-crypt>", "<auth-user-pass>"):
            self.assertIn(block, profile)
        self.assertNotIn("PRIVATE KEY", profile)

        def my_session():
            _, page = lab.api("GET", "/api/v1/user/sessions", token=user)
            return next(s for s in page["sessions"] if s["id"] == session["id"])

        # The client namespace's default route leads to the node; redirect-gateway
        # puts the tunnel in front of it.
        sh("ip", "route", "add", "default", "via", NODE_EDGE_IP, ns=lab.ns_client)
        client = OpenVpnClient(lab, "client", profile, "ovpnc0")
        wait_for("client connected", lambda: client.connections() >= 1 or client.exited(),
                 timeout=90)
        self.assertFalse(client.exited(), client.log())
        route = sh("ip", "route", "get", INTERNET_IP, ns=lab.ns_client).stdout
        self.assertIn("dev ovpnc0", route)
        seen_before = len(lab.http_clients())
        self.assertEqual(lab.fetch(timeout=10), PAGE)
        self.assertEqual(set(lab.http_clients()[seen_before:]), {NODE_UPLINK_IP})

        s = wait_for("session connected with bytes", lambda: (
            lambda x: x if x["status"] == "connected" and x["bytes_sent"] > 0
            and x["bytes_received"] > 0 else None)(my_session()))
        # The address control allocated is the one the node pushed.
        addr = sh("ip", "-4", "addr", "show", "ovpnc0", ns=lab.ns_client).stdout
        self.assertIn(f"inet {s['tunnel_ip']}/", addr)

        text = wait_for("node metrics count the client", lambda: (
            lambda t: t if t and metric(t, "aureo_vpn_openvpn_connections") == 1 else None)(
            lab.node_metrics()))
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(metric(text, "aureo_vpn_active_connections"), 1)

        # A wrong credential is refused by the node.
        bad_profile = re.sub(r"(<auth-user-pass>\n[^\n]+\n)[^\n]+", r"\1wrong-credential", profile)
        self.assertNotEqual(bad_profile, profile)
        bad = OpenVpnClient(lab, "bad", bad_profile, "ovpnc1")
        wait_for("wrong credential refused", bad.exited, timeout=90)
        self.assertIn("AUTH_FAILED", bad.log())
        self.assertEqual(bad.connections(), 0)
        self.assertFalse(bad.has_device())
        print("  wrong credential: " + next(line for line in bad.log().splitlines()
                                           if "AUTH_FAILED" in line), file=sys.stderr)

        # SIGKILL the daemon: the supervisor starts a new one and the client
        # reconnects by itself, with the same session.
        os.kill(first_pid, signal.SIGKILL)
        killed = time.monotonic()
        second_pid = wait_for("daemon restarted",
                              lambda: (lambda p: p if p and p != first_pid else None)(daemon_pid()))
        self.assertNotEqual(second_pid, first_pid)
        wait_for("client reconnected", lambda: client.connections() >= 2 or client.exited(),
                 timeout=120)
        self.assertFalse(client.exited(), client.log())
        print(f"\n  daemon {first_pid} SIGKILLed, {second_pid} started; client reconnected "
              f"{time.monotonic() - killed:.1f} s later", file=sys.stderr)
        self.assertEqual(lab.fetch(timeout=10), PAGE)
        self.assertEqual(my_session()["status"], "connected")

        # Deleting the session kicks the client (HALT: it exits, its tun goes).
        status, _ = lab.api("DELETE", f"/api/v1/sessions/{session['id']}", token=user)
        self.assertIn(status, (200, 204))
        deleted = time.monotonic()
        wait_for("client kicked", client.exited, timeout=60)
        print(f"  client kicked {time.monotonic() - deleted:.2f} s after DELETE", file=sys.stderr)
        self.assertFalse(client.has_device())
        s = my_session()
        self.assertEqual(s["status"], "disconnected")
        self.assertGreater(s["bytes_sent"], 0)
        self.assertGreater(s["bytes_received"], 0)
        self.assertIsNone(lab.fetch(timeout=2))

        # The revoked credential no longer logs in.
        again = OpenVpnClient(lab, "again", profile, "ovpnc2")
        wait_for("revoked credential refused", again.exited, timeout=90)
        self.assertIn("AUTH_FAILED", again.log())
        self.assertEqual(again.connections(), 0)

        # Disabling an account kicks its clients the same way.
        status, reg2 = lab.api("POST", "/api/v1/auth/register", {
            "email": "ovpn2@example.test", "username": "ovpn2",
            "password": "correct horse battery"}, token="-")
        self.assertEqual(status, 201, reg2)
        status, created2 = lab.api("POST", "/api/v1/sessions", {"protocol": "openvpn"},
                                   token=reg2["access_token"])
        self.assertEqual(status, 201, created2)
        second = OpenVpnClient(lab, "second", created2["config"], "ovpnc3")
        wait_for("second client connected", lambda: second.connections() >= 1 or second.exited(),
                 timeout=90)
        self.assertFalse(second.exited(), second.log())
        self.assertEqual(lab.fetch(timeout=10), PAGE)
        status, _ = lab.api("POST", f"/api/v1/admin/users/{reg2['user']['id']}/disable")
        self.assertEqual(status, 200)
        wait_for("disabled account's client kicked", second.exited, timeout=60)
        self.assertFalse(second.has_device())

        # SIGTERM stops the daemon with the node.
        self.assertEqual(lab.stop(lab.node), 0, lab.tail(lab.node_log))
        self.assertIsNone(daemon_pid())

    def test_tcp_node_on_443_serves_the_profile_from_the_api(self):
        lab = Lab(self, prefix="otcp")
        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "otcp-node", "public_ip": NODE_EDGE_IP, "country": "NL",
            "protocols": ["wireguard", "openvpn"], "openvpn_transport": "tcp",
            "openvpn_port": 443})
        self.assertEqual(status, 201, node)
        self.assertEqual((node["openvpn_transport"], node["openvpn_port"]), ("tcp", 443))
        # The node's own options say UDP 1195; control's transport and port win.
        lab.start_node(node["enrollment_token"],
                       extra_env=dict(NODE_ENV, AUREO_OPENVPN_TRANSPORT="udp",
                                      AUREO_OPENVPN_PORT="1195"))
        wait_for("node online",
                 lambda: lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        wait_for("openvpn daemon up", lambda: '"openvpn up"' in lab.tail(lab.node_log, 10**6))
        server_conf = read(os.path.join(lab.node_state, "openvpn-server.conf"))
        # One IPv6 socket that takes IPv4 clients too.
        self.assertIn("proto tcp6-server\n", server_conf)
        self.assertIn("port 443\n", server_conf)
        listening = sh("ss", "-Htln", "sport", "= :443", ns=lab.ns_node).stdout
        self.assertIn(":443", listening)

        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "otcp@example.test", "username": "otcp", "password": "correct horse battery"},
            token="-")
        self.assertEqual(status, 201, reg)
        user = reg["access_token"]
        status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "openvpn"}, token=user)
        self.assertEqual(status, 201, created)
        profile = created["config"]
        self.assertIn(f"remote {NODE_EDGE_IP} 443 tcp-client\n", profile)
        self.assertNotIn(" udp\n", profile)

        sh("ip", "route", "add", "default", "via", NODE_EDGE_IP, ns=lab.ns_client)
        client = OpenVpnClient(lab, "tcpclient", profile, "otcpc0")
        wait_for("client connected", lambda: client.connections() >= 1 or client.exited(),
                 timeout=90)
        self.assertFalse(client.exited(), client.log())
        self.assertIn("TCP", client.log())
        self.assertEqual(lab.fetch(timeout=10), PAGE)
        session_id = created["session"]["id"]

        def my_status():
            _, page = lab.api("GET", "/api/v1/user/sessions", token=user)
            return next(x for x in page["sessions"] if x["id"] == session_id)["status"]

        wait_for("session connected", lambda: my_status() == "connected")
        status, _ = lab.api("DELETE", f"/api/v1/sessions/{session_id}", token=user)
        self.assertIn(status, (200, 204))
        wait_for("client kicked", client.exited, timeout=60)

        # An admin moves the running node to UDP 1194: it restarts its daemon
        # there within a heartbeat, not at its next certificate check.
        status, patched = lab.api("PATCH", f"/api/v1/admin/nodes/{node['id']}",
                                  {"openvpn_transport": "udp", "openvpn_port": 1194})
        self.assertEqual(status, 200, patched)
        try:
            wait_for("daemon on UDP 1194", lambda: ":1194" in sh(
                "ss", "-Hnul", "sport", "= :1194", ns=lab.ns_node).stdout, timeout=60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{lab.tail(lab.node_log)}") from None
        server_conf = read(os.path.join(lab.node_state, "openvpn-server.conf"))
        self.assertIn("proto udp6\n", server_conf)
        self.assertIn("port 1194\n", server_conf)
        self.assertEqual(sh("ss", "-Htln", "sport", "= :443", ns=lab.ns_node).stdout.strip(), "")

        # The same daemon serves a client that reaches the node over IPv6.
        sh("ip", "addr", "add", EDGE_V6[0] + "/64", "dev", "edge0", "nodad", ns=lab.ns_node)
        sh("ip", "addr", "add", EDGE_V6[1] + "/64", "dev", "lan0", "nodad", ns=lab.ns_client)
        status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "openvpn"}, token=user)
        self.assertEqual(status, 201, created)
        profile = created["config"]
        self.assertIn(f"remote {NODE_EDGE_IP} 1194 udp\n", profile)
        profile = profile.replace(f"remote {NODE_EDGE_IP} 1194 udp\n",
                                  f"remote {EDGE_V6[0]} 1194 udp\n")
        client6 = OpenVpnClient(lab, "v6client", profile, "otcpc1")
        wait_for("IPv6 client connected", lambda: client6.connections() >= 1 or client6.exited(),
                 timeout=90)
        self.assertFalse(client6.exited(), client6.log())
        self.assertIn("UDPv6", client6.log())
        self.assertEqual(lab.fetch(timeout=10), PAGE)
        self.assertEqual(lab.stop(lab.node), 0, lab.tail(lab.node_log))


if __name__ == "__main__":
    test_e2e.run_tests("node", "gateway", "control")
