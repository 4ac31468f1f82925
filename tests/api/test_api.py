"""API tests against the real aureo-gateway binary over HTTP.

Run: python3 test_api.py --binary build/bin/aureo-gateway
"""
import argparse
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

from gateway import Gateway, make_jwt, decode_jwt, JWT_SECRET

BINARY = None

LOOSE_LIMITS = """
[ratelimit]
ip_rate = 10000
ip_burst = 10000
account_rate = 10000
account_burst = 10000
auth_per_minute = 6000
auth_burst = 1000
login_per_minute = 6000
"""


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(BINARY, LOOSE_LIMITS).start()
        cls.admin = cls.gw.admin_token()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def register(self, name, password="correct horse battery"):
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": f"{name}@example.test", "username": name, "password": password})
        self.assertEqual(status, 201, body)
        return body

    # ---- the auth flow ----
    def test_register_login_refresh_rotate_reuse_logout(self):
        reg = self.register("flow")
        self.assertEqual(reg["user"]["email"], "flow@example.test")
        self.assertNotIn("password_hash", reg["user"])
        login = self.gw.login("FLOW@example.test", "correct horse battery")
        access, refresh = login["access_token"], login["refresh_token"]
        claims = decode_jwt(access)
        self.assertEqual(claims["typ"], "access")
        self.assertEqual(claims["exp"] - claims["iat"], 900)
        self.assertEqual(decode_jwt(refresh)["exp"] - decode_jwt(refresh)["iat"], 7 * 86400)

        status, me, _, _ = self.gw.request("GET", "/api/v1/user/me", token=access)
        self.assertEqual(status, 200)
        self.assertEqual(me["username"], "flow")

        status, r1, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": refresh})
        self.assertEqual(status, 200, r1)
        self.assertNotEqual(r1["refresh_token"], refresh)
        status, r2, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": r1["refresh_token"]})
        self.assertEqual(status, 200, r2)

        # Presenting the first (already rotated) token again is reuse: the family dies.
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": refresh})
        self.assertEqual(status, 401)
        self.assertIn("reuse", body["error"]["message"])
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": r2["refresh_token"]})
        self.assertEqual(status, 401, "the newest token of a reused family must be revoked too")

        # A separate login is a separate family and still works; logout ends it.
        login2 = self.gw.login("flow@example.test", "correct horse battery")
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/logout",
                                          {"refresh_token": login2["refresh_token"]}, token=login2["access_token"])
        self.assertEqual(status, 204)
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": login2["refresh_token"]})
        self.assertEqual(status, 401)

    def test_wrong_password_and_unknown_email_look_the_same(self):
        self.register("pwcheck")
        s1, b1, _, _ = self.gw.request("POST", "/api/v1/auth/login", {"email": "pwcheck@example.test", "password": "nope-nope"})
        s2, b2, _, _ = self.gw.request("POST", "/api/v1/auth/login", {"email": "ghost@example.test", "password": "nope-nope"})
        self.assertEqual((s1, s2), (401, 401))
        self.assertEqual(b1, b2)

    def test_duplicate_registration_conflicts(self):
        self.register("dupe")
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": "DUPE@example.test", "username": "dupe2", "password": "long enough pw"})
        self.assertEqual(status, 409, body)

    # ---- bad tokens ----
    def test_bad_tokens_are_refused(self):
        reg = self.register("tokens")
        good = decode_jwt(reg["access_token"])
        now = int(time.time())
        expired = dict(good, iat=now - 3600, nbf=now - 3600, exp=now - 1800)
        future = dict(good, nbf=now + 3600, exp=now + 7200)
        tampered = reg["access_token"].split(".")
        tampered[1] = make_jwt(dict(good, role="admin")).split(".")[1]
        cases = {
            "expired": make_jwt(expired),
            "not yet valid": make_jwt(future),
            "tampered": ".".join(tampered),
            "alg none": make_jwt(good, header={"alg": "none", "typ": "JWT"}).rsplit(".", 1)[0] + ".",
            "alg HS512": make_jwt(good, header={"alg": "HS512", "typ": "JWT"}),
            "wrong secret": make_jwt(good, secret="x" * 48),
            "wrong audience": make_jwt(dict(good, aud="someone-else")),
            "wrong issuer": make_jwt(dict(good, iss="someone-else")),
            "refresh as access": reg["refresh_token"],
            "garbage": "not.a.jwt",
        }
        for name, token in cases.items():
            with self.subTest(name):
                status, body, resp, _ = self.gw.request("GET", "/api/v1/user/me", token=token)
                self.assertEqual(status, 401, (name, body))
                self.assertIn("Bearer", resp.getheader("WWW-Authenticate", ""))
        status, _, _, _ = self.gw.request("GET", "/api/v1/user/me")
        self.assertEqual(status, 401)
        # A correctly signed forgery with role=admin still meets the database check.
        status, _, _, _ = self.gw.request("GET", "/api/v1/admin/users", token=make_jwt(dict(good, role="admin")))
        self.assertEqual(status, 403)

    def test_user_gets_403_on_admin_routes(self):
        token = self.register("plainuser")["access_token"]
        for method, path in [("GET", "/api/v1/admin/users"), ("GET", "/api/v1/admin/stats"),
                             ("GET", "/api/v1/admin/audit"), ("POST", "/api/v1/admin/nodes"),
                             ("DELETE", "/api/v1/admin/users/00000000-0000-4000-8000-000000000000")]:
            with self.subTest(path=path):
                status, _, _, _ = self.gw.request(method, path, body={} if method == "POST" else None, token=token)
                self.assertEqual(status, 403)

    # ---- bad input ----
    def test_malformed_requests_get_clear_4xx(self):
        token = self.register("badinput")["access_token"]
        cases = [
            ("malformed json", "POST", "/api/v1/auth/login", None, b"{not json", 400),
            ("array body", "POST", "/api/v1/auth/login", None, b"[1,2]", 400),
            ("empty body", "POST", "/api/v1/auth/register", None, b"", 400),
            ("wrong type", "POST", "/api/v1/auth/register", {"email": 5, "username": "abc", "password": "12345678"}, None, 422),
            ("missing field", "POST", "/api/v1/auth/register", {"email": "a@b.cd", "password": "12345678"}, None, 422),
            ("short password", "POST", "/api/v1/auth/register", {"email": "a@b.cd", "username": "abc", "password": "1"}, None, 422),
            ("bad email", "POST", "/api/v1/auth/register", {"email": "nope", "username": "abc", "password": "12345678"}, None, 422),
            ("unknown field", "POST", "/api/v1/auth/login", {"email": "a@b.cd", "password": "x", "admin": True}, None, 422),
            ("deep nesting", "POST", "/api/v1/auth/login", None, b"[" * 100000 + b"]" * 100000, 400),
            ("bad utf8", "POST", "/api/v1/auth/login", None, b'{"email":"\xff\xfe@x.io","password":"x"}', 400),
        ]
        for name, method, path, body, raw, expected in cases:
            with self.subTest(name):
                status, resp_body, _, _ = self.gw.request(method, path, body=body, raw=raw)
                self.assertEqual(status, expected, (name, resp_body))
                self.assertIn("error", resp_body)
                if expected == 422:
                    self.assertTrue(resp_body["error"].get("field"), resp_body)
        status, body, _, _ = self.gw.request("PATCH", "/api/v1/user/me", {"username": ["x"]}, token=token)
        self.assertEqual(status, 422)
        self.assertEqual(body["error"]["field"], "username")
        status, _, _, _ = self.gw.request("GET", "/api/v1/admin/users?limit=abc", token=self.admin)
        self.assertEqual(status, 422)

    def test_oversized_body_gets_413(self):
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/login", raw=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                             headers={"Content-Type": "application/json"})
        self.assertEqual(status, 413, body)

    def test_unknown_routes_and_methods(self):
        status, body, _, _ = self.gw.request("GET", "/api/v1/nope")
        self.assertEqual(status, 404)
        self.assertIn("error", body)
        status, _, resp, _ = self.gw.request("DELETE", "/api/v1/auth/login")
        self.assertEqual(status, 405)
        self.assertIn("POST", resp.getheader("Allow", ""))
        status, _, _, _ = self.gw.request("GET", "/api/v1/nodes/not-a-uuid", token=self.admin)
        self.assertEqual(status, 404)

    def test_sql_injection_strings_are_stored_verbatim(self):
        evil_city = "x'); DROP TABLE vpn_nodes; --"
        evil_email = "o'reilly'--@example.test"
        evil_password = "' OR '1'='1' --"
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": evil_email, "username": "bobby.tables", "password": evil_password})
        self.assertEqual(status, 201, body)
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/login", {"email": evil_email, "password": "' OR 1=1 --"})
        self.assertEqual(status, 401)
        login = self.gw.login(evil_email, evil_password)
        status, me, _, _ = self.gw.request("GET", "/api/v1/user/me", token=login["access_token"])
        self.assertEqual(me["email"], evil_email)
        status, page, _, _ = self.gw.request("GET", "/api/v1/admin/users?search=%25%27%20OR%201%3D1", token=self.admin)
        self.assertEqual(status, 200)
        self.assertEqual(page["total"], 0, "a LIKE wildcard or quote in search must match literally")
        status, page, _, _ = self.gw.request("GET", "/api/v1/admin/users?search=o%27reilly%27--", token=self.admin)
        self.assertEqual(page["total"], 1)
        status, node, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "node-sqli", "public_ip": "203.0.113.9", "country": "de", "city": evil_city}, token=self.admin)
        self.assertEqual(status, 201, node)
        status, got, _, _ = self.gw.request("GET", f"/api/v1/nodes/{node['id']}", token=self.admin)
        self.assertEqual(got["city"], evil_city)
        status, page, _, _ = self.gw.request("GET", "/api/v1/nodes?city=" + "x%27%29%3B%20DROP%20TABLE%20vpn_nodes%3B%20--", token=self.admin)
        self.assertEqual([n["id"] for n in page["nodes"]], [node["id"]])

    # ---- users, nodes, admin ----
    def test_user_profile_password_export_and_erasure(self):
        reg = self.register("gdpr")
        token = reg["access_token"]
        status, me, _, _ = self.gw.request("PATCH", "/api/v1/user/me", {"username": "gdpr2"}, token=token)
        self.assertEqual((status, me["username"]), (200, "gdpr2"))
        status, body, _, _ = self.gw.request("POST", "/api/v1/user/password",
                                             {"current_password": "wrong-one", "new_password": "a brand new pw"}, token=token)
        self.assertEqual(status, 401)
        status, body, _, _ = self.gw.request("POST", "/api/v1/user/password",
                                             {"current_password": "correct horse battery", "new_password": "a brand new pw"}, token=token)
        self.assertEqual(status, 200, body)
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": reg["refresh_token"]})
        self.assertEqual(status, 401, "a password change ends other logins")
        token = self.gw.login("gdpr@example.test", "a brand new pw")["access_token"]
        status, export, resp, _ = self.gw.request("GET", "/api/v1/user/export", token=token)
        self.assertEqual(status, 200)
        self.assertEqual(export["user"]["username"], "gdpr2")
        self.assertIn("sessions", export)
        self.assertIn("attachment", resp.getheader("Content-Disposition", ""))
        status, _, _, _ = self.gw.request("DELETE", "/api/v1/user/me", {"password": "nope"}, token=token)
        self.assertEqual(status, 401)
        status, _, _, _ = self.gw.request("DELETE", "/api/v1/user/me", {"password": "a brand new pw"}, token=token)
        self.assertEqual(status, 204)
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/login", {"email": "gdpr@example.test", "password": "a brand new pw"})
        self.assertEqual(status, 401)

    def test_admin_manages_users_and_everything_is_audited(self):
        user = self.register("managed")
        uid = user["user"]["id"]
        status, page, _, _ = self.gw.request("GET", "/api/v1/admin/users?search=managed&limit=5", token=self.admin)
        self.assertEqual(status, 200)
        self.assertEqual([u["id"] for u in page["users"]], [uid])
        status, got, _, _ = self.gw.request("GET", f"/api/v1/admin/users/{uid}", token=self.admin)
        self.assertEqual(got["email"], "managed@example.test")
        status, got, _, _ = self.gw.request("PUT", f"/api/v1/admin/users/{uid}/tier", {"tier": "premium"}, token=self.admin)
        self.assertEqual((status, got["subscription_tier"]), (200, "premium"))
        status, _, _, _ = self.gw.request("PUT", f"/api/v1/admin/users/{uid}/tier", {"tier": "gold"}, token=self.admin)
        self.assertEqual(status, 422)
        status, got, _, _ = self.gw.request("POST", f"/api/v1/admin/users/{uid}/disable", token=self.admin)
        self.assertEqual((status, got["is_active"]), (200, False))
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/login", {"email": "managed@example.test", "password": "correct horse battery"})
        self.assertEqual(status, 403)
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": user["refresh_token"]})
        self.assertEqual(status, 403)
        status, got, _, _ = self.gw.request("POST", f"/api/v1/admin/users/{uid}/enable", token=self.admin)
        self.assertEqual(got["is_active"], True)
        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/admin/users/{uid}", token=self.admin)
        self.assertEqual(status, 204)
        status, _, _, _ = self.gw.request("GET", f"/api/v1/admin/users/{uid}", token=self.admin)
        self.assertEqual(status, 404)
        status, audit, _, _ = self.gw.request("GET", f"/api/v1/admin/audit?target={uid}&limit=50", token=self.admin)
        actions = sorted(e["action"] for e in audit["entries"])
        self.assertEqual(actions, ["user.delete", "user.disable", "user.enable", "user.set_tier"])

    def test_admin_node_crud_and_discovery_filters(self):
        created = []
        for name, country, city in [("de-fra-1", "DE", "Frankfurt"), ("de-ber-1", "DE", "Berlin"), ("us-nyc-1", "US", "New York")]:
            status, node, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
                "name": name, "public_ip": "198.51.100.1", "country": country, "city": city,
                "protocols": ["wireguard", "openvpn"] if country == "US" else ["wireguard"]}, token=self.admin)
            self.assertEqual(status, 201, node)
            created.append(node)
        status, _, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "de-fra-1", "public_ip": "198.51.100.1", "country": "DE"}, token=self.admin)
        self.assertEqual(status, 409)
        status, body, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "bad", "public_ip": "999.1.1.1", "country": "DE"}, token=self.admin)
        self.assertEqual((status, body["error"]["field"]), (422, "public_ip"))
        user = self.register("nodeviewer")["access_token"]
        status, page, _, _ = self.gw.request("GET", "/api/v1/nodes?country=de", token=user)
        names = sorted(n["name"] for n in page["nodes"] if n["name"].startswith("de-"))
        self.assertEqual(names, ["de-ber-1", "de-fra-1"])
        status, page, _, _ = self.gw.request("GET", "/api/v1/nodes?country=DE&city=Berlin", token=user)
        self.assertEqual([n["name"] for n in page["nodes"]], ["de-ber-1"])
        status, page, _, _ = self.gw.request("GET", "/api/v1/nodes?protocol=openvpn", token=user)
        self.assertIn("us-nyc-1", [n["name"] for n in page["nodes"]])
        self.assertNotIn("de-fra-1", [n["name"] for n in page["nodes"]])
        status, _, _, _ = self.gw.request("GET", "/api/v1/nodes?status=sideways", token=user)
        self.assertEqual(status, 422)
        nid = created[0]["id"]
        status, node, _, _ = self.gw.request("PATCH", f"/api/v1/admin/nodes/{nid}", {"status": "maintenance", "max_connections": 50}, token=self.admin)
        self.assertEqual((status, node["status"], node["max_connections"]), (200, "maintenance", 50))
        status, _, _, _ = self.gw.request("DELETE", f"/api/v1/admin/nodes/{nid}", token=self.admin)
        self.assertEqual(status, 204)
        status, _, _, _ = self.gw.request("GET", f"/api/v1/nodes/{nid}", token=user)
        self.assertEqual(status, 404)
        status, stats, _, _ = self.gw.request("GET", "/api/v1/admin/stats", token=self.admin)
        self.assertEqual(status, 200)
        self.assertGreaterEqual(stats["nodes"]["total"], 2)
        self.assertGreaterEqual(stats["users"]["total"], 2)

    def test_admin_node_openvpn_transport_defaults_to_udp_and_takes_only_udp_or_tcp(self):
        status, node, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "tr-udp-1", "public_ip": "198.51.100.7", "country": "NL"}, token=self.admin)
        self.assertEqual(status, 201, node)
        self.assertEqual((node["openvpn_transport"], node["openvpn_port"]), ("udp", 1194))
        status, body, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "tr-bad-1", "public_ip": "198.51.100.8", "country": "NL",
            "openvpn_transport": "quic"}, token=self.admin)
        self.assertEqual((status, body["error"]["field"]), (422, "openvpn_transport"))
        status, body, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "tr-bad-2", "public_ip": "198.51.100.8", "country": "NL",
            "openvpn_transport": 6}, token=self.admin)
        self.assertEqual((status, body["error"]["field"]), (422, "openvpn_transport"))
        # tcp on the UDP default port: kept as the admin gave it.
        status, node, _, _ = self.gw.request("PATCH", f"/api/v1/admin/nodes/{node['id']}", {
            "openvpn_transport": "tcp"}, token=self.admin)
        self.assertEqual((status, node["openvpn_transport"], node["openvpn_port"]), (200, "tcp", 1194))
        status, node, _, _ = self.gw.request("PATCH", f"/api/v1/admin/nodes/{node['id']}", {
            "openvpn_port": 443}, token=self.admin)
        self.assertEqual((status, node["openvpn_transport"], node["openvpn_port"]), (200, "tcp", 443))
        status, body, _, _ = self.gw.request("PATCH", f"/api/v1/admin/nodes/{node['id']}", {
            "openvpn_transport": "TCP"}, token=self.admin)
        self.assertEqual((status, body["error"]["field"]), (422, "openvpn_transport"))
        status, got, _, _ = self.gw.request("GET", f"/api/v1/nodes/{node['id']}", token=self.admin)
        self.assertEqual((status, got["openvpn_transport"], got["openvpn_port"]), (200, "tcp", 443))
        status, created, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
            "name": "tr-tcp-1", "public_ip": "198.51.100.9", "country": "NL",
            "openvpn_transport": "tcp", "openvpn_port": 443}, token=self.admin)
        self.assertEqual((status, created["openvpn_transport"], created["openvpn_port"]), (201, "tcp", 443))

    # ---- health and metrics ----
    def test_health_reports_database(self):
        status, body, resp, _ = self.gw.request("GET", "/health")
        self.assertEqual((status, body["checks"]["database"]), (200, "ok"))
        self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff")
        status, body, _, _ = self.gw.request("GET", "/health/ready")
        self.assertEqual((status, body["status"]), (200, "ready"))

    def test_metrics_pass_promtool(self):
        self.gw.request("POST", "/api/v1/auth/login", {"email": "ghost@example.test", "password": "whatever"})
        status, _, _, payload = self.gw.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = payload.decode()
        for name in ["aureo_vpn_http_requests_total", "aureo_vpn_http_request_duration_seconds",
                     "aureo_vpn_login_attempts_total", "aureo_vpn_database_queries_total",
                     "aureo_vpn_database_query_duration_seconds"]:
            self.assertIn(name, text)
        self.assertRegex(text, r'aureo_vpn_login_attempts_total\{result="invalid_credentials"\} [1-9]')
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) must be installed")
        check = subprocess.run([promtool, "check", "metrics"], input=payload, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())


class RateLimitTest(unittest.TestCase):
    def test_login_limit_reached_and_recovered(self):
        gw = Gateway(BINARY, "[ratelimit]\nauth_per_minute = 60\nauth_burst = 3\nlogin_per_minute = 600\n").start()
        try:
            statuses = []
            retry_after = None
            for _ in range(6):
                status, body, resp, _ = gw.request("POST", "/api/v1/auth/login", {"email": "a@b.cd", "password": "xxxxxxxx"})
                statuses.append(status)
                if status == 429:
                    retry_after = int(resp.getheader("Retry-After"))
            self.assertEqual(statuses[:3], [401, 401, 401])
            self.assertIn(429, statuses)
            self.assertGreaterEqual(retry_after, 1)
            time.sleep(retry_after + 0.5)
            status, _, _, _ = gw.request("POST", "/api/v1/auth/login", {"email": "a@b.cd", "password": "xxxxxxxx"})
            self.assertEqual(status, 401, "the bucket refills")
            _, _, _, payload = gw.request("GET", "/metrics")
            self.assertRegex(payload.decode(), r'aureo_vpn_login_attempts_total\{result="rate_limited"\} [1-9]')
        finally:
            gw.close()


class DurabilityTest(unittest.TestCase):
    def test_sigkill_during_write_burst_loses_no_acknowledged_write(self):
        gw = Gateway(BINARY, LOOSE_LIMITS).start()
        try:
            token = gw.admin_token()
            acknowledged = []
            lock = threading.Lock()
            stop = threading.Event()

            def writer(worker):
                i = 0
                while not stop.is_set():
                    name = f"burst-{worker}-{i}"
                    i += 1
                    try:
                        status, body, _, _ = gw.request("POST", "/api/v1/admin/nodes", {
                            "name": name, "public_ip": "192.0.2.1", "country": "NL"}, token=token)
                    except (OSError, ConnectionError, Exception):
                        return
                    if status == 201:
                        with lock:
                            acknowledged.append(body["id"])

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
            for t in threads:
                t.start()
            while True:
                with lock:
                    if len(acknowledged) >= 200:
                        break
                time.sleep(0.01)
            gw.proc.kill()  # SIGKILL mid-burst
            gw.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            gw.proc = None
            if gw.db_path:  # SQLite: the file survived the kill intact (PostgreSQL is its own process)
                integrity = subprocess.run(["sqlite3", gw.db_path, "PRAGMA integrity_check;"], capture_output=True, text=True)
                self.assertEqual(integrity.stdout.strip(), "ok", integrity.stderr)
            gw.start()
            token = gw.admin_token()
            status, page, _, _ = gw.request("GET", "/api/v1/admin/nodes", token=token)
            present = {n["id"] for n in page["nodes"]}
            missing = [i for i in acknowledged if i not in present]
            self.assertEqual(missing, [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost")
        finally:
            gw.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
