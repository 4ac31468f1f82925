"""Sessions through the real binaries: aureo-gateway serves the API,
aureo-control (on the same SQLite file) serves simulated nodes and runs the
loops with short cadences.

Run: python3 test_sessions.py --gateway build/bin/aureo-gateway --control build/bin/aureo-control
"""
import argparse
import itertools
import sys
import threading
import time
import unittest

from control import Control, SimNode, random_wg_key, wait_for
from gateway import Gateway
from test_api import LOOSE_LIMITS

GATEWAY = None
CONTROL = None
_countries = itertools.product("QRSTUVWXYZ", repeat=2)


def fresh_country():
    """A country code no other test uses, so node choice stays predictable."""
    return "".join(next(_countries))


class SessionApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GATEWAY, LOOSE_LIMITS).start()
        cls.ctl = Control(CONTROL, cls.gw.db_path, cls.gw.dir).start()
        cls.admin = cls.gw.admin_token()
        cls.nodes = []
        cls.users = itertools.count()

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.stop_heartbeats()
        cls.ctl.kill()
        cls.gw.close()

    # ---- helpers ----
    def add_node(self, country, heartbeat=True, **fields):
        name = f"node-{country.lower()}-{len(self.nodes)}"
        body = {"name": name, "public_ip": "203.0.113.9", "country": country,
                "hostname": f"{name}.vpn.test"}
        body.update(fields)
        status, node, resp, _ = self.gw.request("POST", "/api/v1/admin/nodes", body, token=self.admin)
        self.assertEqual(status, 201, node)
        self.assertEqual(node["status"], "offline")
        self.assertTrue(node["enrollment_token"])
        self.assertEqual(resp.getheader("Cache-Control"), "no-store")
        sim = SimNode(self.ctl.port, node["enrollment_token"])
        self.assertEqual(sim.node_id, node["id"])
        self.nodes.append(sim)
        if heartbeat:
            sim.start_heartbeats()
            wait_for("node online", lambda: self.node(sim.node_id)["status"] == "online")
        return sim

    def node(self, node_id):
        status, body, _, _ = self.gw.request("GET", f"/api/v1/nodes/{node_id}", token=self.admin)
        self.assertEqual(status, 200, body)
        return body

    def user(self, tier=None):
        name = f"sess{next(self.users)}"
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": f"{name}@example.test", "username": name, "password": "correct horse battery"})
        self.assertEqual(status, 201, body)
        if tier:
            status, _, _, _ = self.gw.request("PUT", f"/api/v1/admin/users/{body['user']['id']}/tier",
                                              {"tier": tier}, token=self.admin)
            self.assertEqual(status, 200)
        return body["user"]["id"], body["access_token"]

    def connect(self, token, **body):
        return self.gw.request("POST", "/api/v1/sessions", body, token=token)

    def my_sessions(self, token, status=None):
        path = "/api/v1/user/sessions" + (f"?status={status}" if status else "")
        code, body, _, _ = self.gw.request("GET", path, token=token)
        self.assertEqual(code, 200, body)
        return body["sessions"]

    # ---- the flow ----
    def test_connect_handshake_accounting_and_disconnect(self):
        node = self.add_node(fresh_country(), tunnel_ipv6_cidr="fd00:77::/64")
        _, token = self.user()
        status, body, resp, _ = self.connect(token, protocol="wireguard", node_id=node.node_id)
        self.assertEqual(status, 201, body)
        self.assertEqual(resp.getheader("Cache-Control"), "no-store")
        session = body["session"]
        self.assertEqual(session["status"], "pending")
        self.assertEqual(session["node_id"], node.node_id)
        self.assertEqual(session["tunnel_ip"], "10.8.0.2")
        self.assertEqual(session["tunnel_ipv6"], "fd00:77::2")
        config = body["config"]
        self.assertIn("PrivateKey = " + body["private_key"], config)
        self.assertIn("Address = 10.8.0.2/32, fd00:77::2/128", config)
        # The node's own resolver, on its tunnel gateway addresses (nodes.dns_resolver).
        self.assertIn("\nDNS = 10.8.0.1, fd00:77::1\n", config)
        self.assertEqual(body["dns"], ["10.8.0.1", "fd00:77::1"])
        self.assertIn("PublicKey = " + node.wg_public_key, config)
        self.assertIn(f"Endpoint = {self.node(node.node_id)['hostname']}:51820", config)
        self.assertIn("AllowedIPs = 0.0.0.0/0, ::/0", config)
        self.assertIn("PersistentKeepalive = 25", config)

        state = node.desired_state()
        self.assertEqual(state["peers"], [{"session_id": session["id"],
                                           "public_key": session["client_public_key"],
                                           "allowed_ips": ["10.8.0.2/32", "fd00:77::2/128"]}])
        # The node reports the first handshake and traffic.
        node.report([{"public_key": session["client_public_key"], "last_handshake": int(time.time()),
                      "rx_bytes": 1500, "tx_bytes": 90000}])
        [mine] = self.my_sessions(token)
        self.assertEqual(mine["status"], "connected")
        self.assertEqual(mine["bytes_sent"], 1500)
        self.assertEqual(mine["bytes_received"], 90000)
        # Counters reset (node restart): the new values add up, nothing is lost.
        node.report([{"public_key": session["client_public_key"], "last_handshake": int(time.time()),
                      "rx_bytes": 100, "tx_bytes": 200}])
        [mine] = self.my_sessions(token)
        self.assertEqual((mine["bytes_sent"], mine["bytes_received"]), (1600, 90200))

        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/sessions/{session['id']}", token=token)
        self.assertEqual(status, 204)
        [mine] = self.my_sessions(token)
        self.assertEqual(mine["status"], "disconnected")
        self.assertEqual(mine["disconnect_reason"], "user_request")
        self.assertEqual(node.desired_state()["peers"], [])
        self.assertEqual(self.my_sessions(token, "active"), [])

    def test_nodes_run_the_resolver_unless_it_is_turned_off_and_configs_follow(self):
        node = self.add_node(fresh_country())
        self.assertIs(node.config["dns_resolver"], True)
        code, reply = node.call("POST", "/api/v1/node/heartbeat", {
            "status": "online", "cpu_usage": 1, "connections": 0, "bytes_sent": 0,
            "bytes_received": 0})
        self.assertEqual(code, 200, reply)
        self.assertIs(reply["dns_resolver"], True)

        # A gateway and a control with nodes.dns_resolver = false, on the same
        # database: configs list the node's dns_servers, nodes are told so.
        gw = Gateway(GATEWAY, LOOSE_LIMITS, data_dir=self.gw.dir, database_url=self.gw.database_url,
                     name="gw-nodns", env={"AUREO_NODES_DNS_RESOLVER": "false"})
        self.addCleanup(gw.kill)
        gw.start()
        ctl = Control(CONTROL, self.gw.db_path, self.gw.dir, name="control-nodns",
                      extra_config="dns_resolver = false\n")
        self.addCleanup(ctl.kill)
        ctl.start()
        _, token = self.user()
        status, body, _, _ = gw.request("POST", "/api/v1/sessions",
                                        {"protocol": "wireguard", "node_id": node.node_id},
                                        token=token)
        self.assertEqual(status, 201, body)
        self.assertIn("\nDNS = 1.1.1.1, 1.0.0.1\n", body["config"])
        self.assertEqual(body["dns"], ["1.1.1.1", "1.0.0.1"])
        status, created, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "nodns-node", "public_ip": "203.0.113.10", "country": fresh_country()},
            token=self.admin)
        self.assertEqual(status, 201, created)
        plain = SimNode(ctl.port, created["enrollment_token"])
        self.assertIs(plain.config["dns_resolver"], False)
        code, reply = plain.call("POST", "/api/v1/node/heartbeat", {
            "status": "online", "cpu_usage": 1, "connections": 0, "bytes_sent": 0,
            "bytes_received": 0})
        self.assertEqual(code, 200, reply)
        self.assertIs(reply["dns_resolver"], False)

    def test_a_client_key_is_used_as_given(self):
        node = self.add_node(fresh_country())
        _, token = self.user()
        key = random_wg_key()
        status, body, _, _ = self.connect(token, node_id=node.node_id, client_public_key=key)
        self.assertEqual(status, 201, body)
        self.assertNotIn("private_key", body)
        self.assertNotIn("PrivateKey", body["config"])
        self.assertEqual(body["session"]["client_public_key"], key)

    def test_bad_requests_are_clear_4xx(self):
        _, token = self.user()
        node = self.add_node(fresh_country())
        cases = [
            # A node that does not serve OpenVPN (it never asked for a certificate).
            ({"protocol": "openvpn", "node_id": node.node_id}, 409, "not accepting"),
            ({"protocol": "ipsec"}, 422, "protocol"),
            ({"client_public_key": "abc"}, 422, "client_public_key"),
            ({"node_id": "not-a-uuid"}, 422, "node_id"),
            ({"node_id": "00000000-0000-4000-8000-000000000000"}, 404, "node"),
            ({"country": "Germany"}, 422, "country"),
            ({"surprise": 1}, 422, "surprise"),
        ]
        for body, code, text in cases:
            with self.subTest(body=body):
                status, reply, _, _ = self.connect(token, **body)
                self.assertEqual(status, code, reply)
                self.assertIn(text, reply["error"]["message"])
        status, reply, _, _ = self.gw.request("POST", "/api/v1/sessions", raw=b"{", token=token)
        self.assertEqual(status, 400)
        status, _, _, _ = self.gw.request("POST", "/api/v1/sessions", {})
        self.assertEqual(status, 401)

    # ---- limits ----
    def test_device_limits_follow_the_tier_with_409(self):
        node = self.add_node(fresh_country())
        user_id, token = self.user()
        status, first, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 201, first)
        status, body, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 409, body)
        self.assertIn("free plan allows 1 concurrent session", body["error"]["message"])

        self.gw.request("PUT", f"/api/v1/admin/users/{user_id}/tier", {"tier": "basic"}, token=self.admin)
        for _ in range(2):
            status, body, _, _ = self.connect(token, node_id=node.node_id)
            self.assertEqual(status, 201, body)
        status, body, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 409, body)
        self.assertIn("basic plan allows 3", body["error"]["message"])

        # Ending one frees a slot.
        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/sessions/{first['session']['id']}", token=token)
        self.assertEqual(status, 204)
        status, body, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 201, body)

    def test_disabling_an_account_ends_its_sessions_and_refuses_new_ones(self):
        node = self.add_node(fresh_country())
        user_id, token = self.user("premium")
        for _ in range(2):
            status, body, _, _ = self.connect(token, node_id=node.node_id)
            self.assertEqual(status, 201, body)
        self.assertEqual(len(node.desired_state()["peers"]), 2)
        status, _, _, _ = self.gw.request("POST", f"/api/v1/admin/users/{user_id}/disable", token=self.admin)
        self.assertEqual(status, 200)
        self.assertEqual(node.desired_state()["peers"], [])
        reasons = {s["disconnect_reason"] for s in self.my_sessions(token)}
        self.assertEqual(reasons, {"account_disabled"})
        status, body, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 403, body)

    def test_sessions_are_private_and_admins_can_list_and_end_them(self):
        node = self.add_node(fresh_country())
        owner_id, owner = self.user()
        _, other = self.user()
        status, body, _, _ = self.connect(owner, node_id=node.node_id)
        self.assertEqual(status, 201, body)
        sid = body["session"]["id"]
        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/sessions/{sid}", token=other)
        self.assertEqual(status, 404)
        self.assertEqual(self.my_sessions(other), [])

        status, page, _, _ = self.gw.request(
            "GET", f"/api/v1/admin/sessions?user={owner_id}&status=active", token=self.admin)
        self.assertEqual(status, 200, page)
        self.assertEqual([s["id"] for s in page["sessions"]], [sid])
        status, page, _, _ = self.gw.request("GET", f"/api/v1/admin/sessions?node={node.node_id}&limit=1",
                                             token=self.admin)
        self.assertEqual((status, page["total"], page["limit"]), (200, 1, 1))
        status, _, _, _ = self.gw.request("GET", "/api/v1/admin/sessions?status=bogus", token=self.admin)
        self.assertEqual(status, 422)
        status, _, _, _ = self.gw.request("GET", "/api/v1/admin/sessions", token=other)
        self.assertEqual(status, 403)

        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/admin/sessions/{sid}", token=self.admin)
        self.assertEqual(status, 204)
        [s] = self.my_sessions(owner)
        self.assertEqual((s["status"], s["disconnect_reason"]), ("disconnected", "admin_request"))
        status, audit, _, _ = self.gw.request("GET", f"/api/v1/admin/audit?target={sid}", token=self.admin)
        self.assertEqual(audit["entries"][0]["action"], "session.disconnect")

    # ---- selection ----
    def test_best_picks_the_least_loaded_matching_node(self):
        country = fresh_country()
        busy = self.add_node(country)
        calm = self.add_node(country)
        busy.cpu = 95.0
        calm.cpu = 5.0
        busy.heartbeat()
        calm.heartbeat()
        _, token = self.user()

        def best():
            status, body, _, _ = self.gw.request("GET", f"/api/v1/nodes/best?country={country.lower()}",
                                                 token=token)
            self.assertEqual(status, 200, body)
            return body["id"]
        # The load balancer runs every second here; wait until it has scored both.
        wait_for("load scores", lambda: self.node(busy.node_id)["load_score"] > self.node(calm.node_id)["load_score"])
        for _ in range(10):
            self.assertEqual(best(), calm.node_id)
        status, body, _, _ = self.connect(token, country=country)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["session"]["node_id"], calm.node_id)

        status, _, _, _ = self.gw.request("GET", "/api/v1/nodes/best?country=ZZ&city=Nowhere", token=token)
        self.assertEqual(status, 404)
        status, _, _, _ = self.gw.request("GET", "/api/v1/nodes/best?protocol=smtp", token=token)
        self.assertEqual(status, 422)

        # A client moving away from a dead node excludes it.
        status, body, _, _ = self.gw.request(
            "GET", f"/api/v1/nodes/best?country={country}&exclude={calm.node_id}", token=token)
        self.assertEqual((status, body["id"]), (200, busy.node_id))
        status, _, _, _ = self.gw.request(
            "GET", f"/api/v1/nodes/best?country={country}&exclude={calm.node_id},{busy.node_id}",
            token=token)
        self.assertEqual(status, 404)
        status, _, _, _ = self.gw.request("GET", "/api/v1/nodes/best?exclude=not-an-id", token=token)
        self.assertEqual(status, 422)

    def test_a_drained_node_is_not_offered_even_while_it_heartbeats(self):
        country = fresh_country()
        node = self.add_node(country)
        status, body, _, _ = self.gw.request("POST", f"/api/v1/admin/nodes/{node.node_id}/drain", token=self.admin)
        self.assertEqual((status, body["status"]), (200, "draining"))
        self.assertEqual(node.heartbeat(), "draining")
        _, token = self.user()
        status, _, _, _ = self.gw.request("GET", f"/api/v1/nodes/best?country={country}", token=token)
        self.assertEqual(status, 404)
        status, body, _, _ = self.connect(token, node_id=node.node_id)
        self.assertEqual(status, 409, body)
        self.gw.request("PATCH", f"/api/v1/admin/nodes/{node.node_id}", {"status": "online"}, token=self.admin)
        self.assertEqual(node.heartbeat(), "online")

    def test_a_new_enrollment_token_replaces_the_old_one(self):
        status, created, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "reissue", "public_ip": "203.0.113.10", "country": fresh_country()}, token=self.admin)
        self.assertEqual(status, 201)
        status, fresh, _, _ = self.gw.request(
            "POST", f"/api/v1/admin/nodes/{created['id']}/enrollment-token", token=self.admin)
        self.assertEqual(status, 201, fresh)
        status, _ = self.ctl.request("POST", "/api/v1/node/enroll", {
            "enrollment_token": created["enrollment_token"], "wg_public_key": random_wg_key()})
        self.assertEqual(status, 401)
        SimNode(self.ctl.port, fresh["enrollment_token"])
        status, _ = self.ctl.request("POST", "/api/v1/node/enroll", {
            "enrollment_token": fresh["enrollment_token"], "wg_public_key": random_wg_key()})
        self.assertEqual(status, 401, "an enrollment token works once")

    # ---- failover ----
    def test_failover_when_a_node_stops_heartbeating(self):
        country = fresh_country()
        doomed = self.add_node(country)
        _, token = self.user("basic")
        status, body, _, _ = self.connect(token, node_id=doomed.node_id)
        self.assertEqual(status, 201, body)
        sid = body["session"]["id"]
        survivor = self.add_node(country)

        doomed.stop_heartbeats()
        wait_for("node offline", lambda: self.node(doomed.node_id)["status"] == "offline")
        # Marked offline first, its sessions failed over right after.
        wait_for("session failed over", lambda: [
            s for s in self.my_sessions(token) if s["id"] == sid][0]["status"] == "disconnected")
        [s] = [s for s in self.my_sessions(token) if s["id"] == sid]
        self.assertEqual((s["status"], s["disconnect_reason"]), ("disconnected", "node_offline"))
        self.assertEqual(doomed.desired_state()["peers"], [])
        for _ in range(10):
            status, body, _, _ = self.gw.request("GET", f"/api/v1/nodes/best?country={country}", token=token)
            self.assertEqual((status, body["id"]), (200, survivor.node_id))
        # The client asks again and lands on the survivor.
        status, body, _, _ = self.connect(token, country=country)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["session"]["node_id"], survivor.node_id)
        # A heartbeat brings the dead node back.
        self.assertEqual(doomed.heartbeat(), "online")



class QuotaTest(unittest.TestCase):
    """A plan's monthly data quota, through the real gateway and control."""

    @classmethod
    def setUpClass(cls):
        # 1 GiB on basic; the gateway (connects) and control (reports) both read it.
        quota = "quota_gib_basic = 1\n"
        cls.gw = Gateway(GATEWAY, LOOSE_LIMITS + "[sessions]\nlimit_basic = 3\n" + quota).start()
        cls.ctl = Control(CONTROL, cls.gw.db_path, cls.gw.dir, name="quota-control",
                          extra_config="[sessions]\n" + quota).start()
        cls.admin = cls.gw.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.ctl.kill()
        cls.gw.close()

    def test_reaching_the_quota_ends_sessions_and_refuses_connects(self):
        status, node, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "quota-node", "public_ip": "203.0.113.8", "country": fresh_country()},
            token=self.admin)
        self.assertEqual(status, 201, node)
        sim = SimNode(self.ctl.port, node["enrollment_token"])
        sim.start_heartbeats()
        self.addCleanup(sim.stop_heartbeats)
        wait_for("node online", lambda: self.gw.request(
            "GET", f"/api/v1/nodes/{sim.node_id}", token=self.admin)[1]["status"] == "online")
        status, reg, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": "quota@example.test", "username": "quota", "password": "correct horse battery"})
        self.assertEqual(status, 201, reg)
        status, _, _, _ = self.gw.request("PUT", f"/api/v1/admin/users/{reg['user']['id']}/tier",
                                          {"tier": "basic"}, token=self.admin)
        self.assertEqual(status, 200)
        token = reg["access_token"]
        sessions = []
        for _ in range(2):
            status, body, _, _ = self.gw.request("POST", "/api/v1/sessions",
                                                 {"node_id": sim.node_id}, token=token)
            self.assertEqual(status, 201, body)
            sessions.append(body["session"])
        now = int(time.time())
        half = 1 << 29  # half a GiB each way: exactly the quota in all
        sim.report([{"public_key": sessions[0]["client_public_key"], "last_handshake": now,
                     "rx_bytes": half, "tx_bytes": half - 1}])
        status, mine, _, _ = self.gw.request("GET", "/api/v1/user/sessions?status=active",
                                             token=token)
        self.assertEqual(len(mine["sessions"]), 2, "one byte under the quota: still connected")
        sim.report([{"public_key": sessions[1]["client_public_key"], "last_handshake": now,
                     "rx_bytes": 1, "tx_bytes": 0}])
        status, mine, _, _ = self.gw.request("GET", "/api/v1/user/sessions", token=token)
        self.assertEqual({(s["status"], s["disconnect_reason"]) for s in mine["sessions"]},
                         {("disconnected", "quota_exceeded")})
        self.assertEqual(sim.desired_state()["peers"], [])
        status, body, _, _ = self.gw.request("POST", "/api/v1/sessions",
                                             {"node_id": sim.node_id}, token=token)
        self.assertEqual(status, 403, body)
        self.assertIn("quota", body["error"]["message"])


class PeerReadyTest(unittest.TestCase):
    """POST /api/v1/sessions answers once the node has the peer. The gateway
    and the control server are separate processes: the gateway learns it from
    the version the node acknowledges by long-polling for the next change."""

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GATEWAY, LOOSE_LIMITS, peer_ready_timeout="8s").start()
        cls.ctl = Control(CONTROL, cls.gw.db_path, cls.gw.dir, name="ready-control").start()
        cls.admin = cls.gw.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.ctl.kill()
        cls.gw.close()

    def node_and_user(self, name):
        country = fresh_country()
        status, node, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": name, "public_ip": "203.0.113.7", "country": country}, token=self.admin)
        self.assertEqual(status, 201, node)
        sim = SimNode(self.ctl.port, node["enrollment_token"])
        sim.start_heartbeats()
        self.addCleanup(sim.stop_heartbeats)
        wait_for("node online", lambda: self.gw.request(
            "GET", f"/api/v1/nodes/{sim.node_id}", token=self.admin)[1]["status"] == "online")
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": f"{name}@example.test", "username": name, "password": "correct horse battery"})
        self.assertEqual(status, 201, body)
        return sim, body["access_token"]

    def test_the_answer_waits_for_the_node_to_apply_the_peer(self):
        sim, token = self.node_and_user("ready1")
        applied = []  # peer keys the simulated node had when it acknowledged
        stop = threading.Event()

        def agent():
            state = sim.desired_state()
            while not stop.is_set():
                applied.append({p["public_key"] for p in state["peers"]})
                state = sim.desired_state(version=state["version"], wait=2)

        thread = threading.Thread(target=agent, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(stop.set)
        status, body, _, _ = self.gw.request("POST", "/api/v1/sessions",
                                             {"node_id": sim.node_id}, token=token)
        self.assertEqual(status, 201, body)
        self.assertTrue(body["peer_ready"], body)
        # peer_ready means the node had already polled again with the version
        # that holds this peer.
        self.assertTrue(any(body["session"]["client_public_key"] in keys for keys in applied))

    def test_a_node_that_never_applies_gets_peer_ready_false(self):
        sim, token = self.node_and_user("ready2")
        status, body, _, _ = self.gw.request("POST", "/api/v1/sessions",
                                             {"node_id": sim.node_id}, token=token)
        self.assertEqual(status, 201, body)
        self.assertFalse(body["peer_ready"])
        self.assertEqual(body["session"]["status"], "pending")
        self.assertEqual([p["session_id"] for p in sim.desired_state()["peers"]],
                         [body["session"]["id"]])



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
