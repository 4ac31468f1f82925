"""aureo-control across processes: one SQLite file shared by aureo-gateway and
one or two aureo-control instances, and a node simulated by speaking the
node protocol over HTTP exactly as aureo-node does.

Run: python3 test_control.py --gateway build/bin/aureo-gateway --control build/bin/aureo-control
"""
import argparse
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))

from control import FAST, Control, SimNode, wait_for  # noqa: E402
from gateway import Gateway  # noqa: E402
from test_api import LOOSE_LIMITS  # noqa: E402

GATEWAY = None
CONTROL = None


class ControlProcessTest(unittest.TestCase):
    def setUp(self):
        self.gw = Gateway(GATEWAY, LOOSE_LIMITS).start()
        self.controls = []
        self.admin = self.gw.admin_token()

    def tearDown(self):
        for c in self.controls:
            c.kill()
        self.gw.close()

    def start_control(self, name):
        c = Control(CONTROL, self.gw.db_path, self.gw.dir, name=name).start()
        self.controls.append(c)
        return c

    def gw_call(self, method, path, body=None, token=None):
        status, reply, _, _ = self.gw.request(method, path, body, token=token or self.admin)
        return status, reply

    def test_node_lifecycle_long_poll_accounting_and_failover(self):
        ctl = self.start_control("control-a")
        # The admin registers the node through the gateway and hands its
        # one-time token to the node, which enrolls with aureo-control.
        status, node = self.gw_call("POST", "/api/v1/admin/nodes", {
            "name": "edge-1", "public_ip": "198.51.100.20", "country": "NL", "city": "Amsterdam"})
        self.assertEqual(status, 201, node)
        sim = SimNode(ctl.port, node["enrollment_token"], hostname="edge-1.example.net")
        self.assertEqual(sim.node_id, node["id"])
        self.assertEqual(sim.config["heartbeat_interval_s"], FAST["heartbeat"])
        self.assertEqual(sim.config["tunnel_ipv4_cidr"], "10.8.0.0/16")
        status, reply = ctl.request("POST", "/api/v1/node/enroll", {
            "enrollment_token": node["enrollment_token"], "wg_public_key": sim.wg_public_key})
        self.assertEqual(status, 401, "a replayed enrollment token must be refused")
        status, _ = ctl.request("POST", "/api/v1/node/heartbeat", {}, token="aureo-node-forged")
        self.assertEqual(status, 401)

        sim.start_heartbeats()
        wait_for("node online", lambda: self.gw_call("GET", f"/api/v1/nodes/{sim.node_id}")[1]["status"] == "online")

        # A long-poll parked on the current version wakes when the gateway
        # (another process) creates a session on the node.
        state = sim.desired_state()
        self.assertEqual(state["peers"], [])
        result = {}

        def poll():
            result["state"] = sim.desired_state(version=state["version"], wait=30)
            result["at"] = time.monotonic()
        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.5)  # let the request park; if it has not yet, it answers at once anyway
        status, reg = self.gw_call("POST", "/api/v1/auth/register", {
            "email": "client@example.test", "username": "client", "password": "correct horse battery"},
            token="-")
        self.assertEqual(status, 201, reg)
        user_token = reg["access_token"]
        status, created = self.gw_call("POST", "/api/v1/sessions", {"protocol": "wireguard", "country": "NL"},
                                       token=user_token)
        posted_at = time.monotonic()
        self.assertEqual(status, 201, created)
        poller.join(timeout=60)
        self.assertFalse(poller.is_alive())
        latency = result["at"] - posted_at
        print(f"\n  long-poll woke {latency * 1000:.0f} ms after POST /api/v1/sessions", file=sys.stderr)
        # The poll waits up to 30 s; answering long before that means it was woken.
        self.assertLess(latency, 10.0)
        session = created["session"]
        self.assertEqual(result["state"]["peers"], [{
            "session_id": session["id"], "public_key": session["client_public_key"],
            "allowed_ips": [session["tunnel_ip"] + "/32"]}])
        self.assertGreater(result["state"]["version"], state["version"])
        self.assertIn("Endpoint = edge-1.example.net:51820", created["config"])

        # The node reports the handshake and traffic: the session connects.
        sim.report([{"public_key": session["client_public_key"], "last_handshake": int(time.time()),
                     "rx_bytes": 4242, "tx_bytes": 8484}])

        def my_session():
            _, page = self.gw_call("GET", "/api/v1/user/sessions", token=user_token)
            return page["sessions"][0]
        s = my_session()
        self.assertEqual((s["status"], s["bytes_sent"], s["bytes_received"]), ("connected", 4242, 8484))

        # The node dies. After three missed heartbeats it is offline, its
        # sessions fail over, and best stops offering it.
        sim.stop_heartbeats()
        died = time.monotonic()
        wait_for("node offline", lambda: self.gw_call("GET", f"/api/v1/nodes/{sim.node_id}")[1]["status"] == "offline")
        print(f"  node marked offline {time.monotonic() - died:.1f} s after its last heartbeat",
              file=sys.stderr)
        # The health loop marks the node offline, then ends its sessions:
        # a read in between still sees the session open.
        wait_for("session failed over", lambda: my_session()["status"] == "disconnected")
        s = my_session()
        self.assertEqual((s["status"], s["disconnect_reason"]), ("disconnected", "node_offline"))
        status, _ = self.gw_call("GET", "/api/v1/nodes/best?country=NL", token=user_token)
        self.assertEqual(status, 404)
        status, reply = self.gw_call("POST", "/api/v1/sessions", {"country": "NL"}, token=user_token)
        self.assertEqual(status, 503, reply)
        # The control plane's gauges describe the node.
        metrics = ctl.request("GET", "/metrics")
        self.assertEqual(metrics[0], 200)

    def test_a_killed_leader_is_replaced_within_the_lease_period(self):
        a = self.start_control("control-a")
        wait_for("a leads", lambda: a.status()["leader"])
        b = self.start_control("control-b")
        # b stays a follower while a renews.
        for _ in range(5):
            self.assertFalse(b.status()["leader"])
            self.assertTrue(a.status()["leader"])
            time.sleep(FAST["lease"] / 3)
        token_before = b.status()["lease"]["fencing_token"]
        self.assertEqual(b.status()["lease"]["holder"], "control-a")

        a.kill(signal.SIGKILL)
        killed = time.monotonic()
        wait_for("b leads", lambda: b.status()["leader"], timeout=FAST["lease"] * 10, interval=0.05)
        took = time.monotonic() - killed
        print(f"\n  control-b took over {took:.2f} s after control-a was killed "
              f"(lease period {FAST['lease']} s)", file=sys.stderr)
        status = b.status()
        self.assertEqual(status["lease"]["holder"], "control-b")
        self.assertEqual(status["lease"]["fencing_token"], token_before + 1)
        # The lease runs out at most one period after a's last renewal; b
        # then needs at most one renewal interval (a third of it) to notice.
        # The bound is loose on purpose: the machine is shared and noisy.
        self.assertLess(took, FAST["lease"] * 3)

    def test_a_stopped_leader_hands_over_at_once(self):
        a = self.start_control("control-a")
        wait_for("a leads", lambda: a.status()["leader"])
        b = self.start_control("control-b")
        self.assertFalse(b.status()["leader"])
        a.kill(signal.SIGTERM)  # resigns the lease on the way out
        wait_for("b leads", lambda: b.status()["leader"], timeout=FAST["lease"] * 10, interval=0.05)
        self.assertEqual(b.status()["lease"]["holder"], "control-b")


def main():
    global GATEWAY, CONTROL
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--control", required=True)
    args, rest = parser.parse_known_args()
    GATEWAY, CONTROL = args.gateway, args.control
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
