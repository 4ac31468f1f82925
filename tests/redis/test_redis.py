"""The optional Redis layer across real processes.

- Two aureo-gateway processes sharing Redis enforce one rate limit together;
  with Redis stopped they keep serving on local limits; with Redis back they
  share again. This test runs its own redis-server (--own-redis-port), since
  it stops and restarts it.
- Two aureo-control instances with Redis: a killed leader is replaced within
  the lease period, and a node long-poll parked on one instance is woken by
  a session created through the gateway (another process) long before the
  database version poll, set to 60 s, could have noticed. These use the
  fixture redis-server (--redis-port), each test under its own key prefix.

Every process uses one database, --database (e.g. postgres://... on a fresh
database), or by default a new SQLite file.

Run: python3 test_redis.py --gateway build/bin/aureo-gateway \
        --control build/bin/aureo-control --redis-port 26379 --own-redis-port 26381
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))

from control import FAST, Control, SimNode, http_request, wait_for  # noqa: E402
from gateway import Gateway, psql  # noqa: E402

ARGS = None
WORK_DIR = None
DATABASE_URL = None
ADMIN_PASSWORD = None  # learnt from the first gateway on the shared database

# Per client IP: a burst of 10, refilled at 1 per second. Every other limit
# is loose, so only this one answers 429.
IP_BURST = 10
IP_RATE = 1
RATE_LIMITS = f"""
[ratelimit]
ip_rate = {IP_RATE}
ip_burst = {IP_BURST}
account_rate = 10000
account_burst = 10000
auth_per_minute = 6000
auth_burst = 1000
login_per_minute = 6000
"""
LOOSE_LIMITS = RATE_LIMITS.replace(f"ip_rate = {IP_RATE}", "ip_rate = 10000").replace(
    f"ip_burst = {IP_BURST}", "ip_burst = 10000")

# The database version poll of the control instances: long, so only pub/sub
# can explain a wake-up well before it.
VERSION_POLL_S = 60
# PeriodicTask scales each delay by a factor in [0.8, 1.2].
VERSION_POLL_JITTER = 0.2


def redis_config(port, prefix):
    return (f'[redis]\nurl = "redis://127.0.0.1:{port}/0"\nprefix = "{prefix}"\n'
            'timeout_ms = 500\n')


def start_gateway(extra, name):
    global ADMIN_PASSWORD
    gw = Gateway(ARGS.gateway, extra, data_dir=WORK_DIR, database_url=DATABASE_URL,
                 name=name).start()
    if gw.admin_password:
        ADMIN_PASSWORD = gw.admin_password
    gw.admin_password = ADMIN_PASSWORD
    return gw


def metric(port, name, labels=""):
    """The value of one series on /metrics, or None when absent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    assert resp.status == 200, resp.status
    series = name + ("{" + labels + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def metric_sum(port, name, *label_parts):
    """The sum of the series of `name` whose labels contain every part."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(p in line for p in label_parts):
            total += float(line.split()[-1])
    return total


def count_lines(path, needle):
    with open(path) as f:
        return sum(needle in line for line in f)


class RedisServer:
    """A private redis-server this test may stop and restart (by its PID)."""

    def __init__(self, port, work_dir):
        self.port = port
        self.dir = work_dir
        self.proc = None

    def start(self):
        with open(os.path.join(self.dir, f"redis-{self.port}.log"), "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir],
                stdout=log, stderr=subprocess.STDOUT)

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server on {self.port} exited (port taken?)")
            try:
                # Ours answers, not another server that holds the port.
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"INFO server\r\n")
                    reply = b""
                    while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        reply += chunk
                    m = re.search(rb"process_id:(\d+)", reply)
                    if m and int(m.group(1)) != self.proc.pid:
                        raise AssertionError(f"port {self.port} belongs to another redis-server")
                    return m is not None
            except OSError:
                return False
        wait_for(f"redis-server on {self.port}", answers, timeout=30, interval=0.05)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


class SharedRateLimitTest(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer(ARGS.own_redis_port, WORK_DIR).start()
        prefix = f"test:{uuid.uuid4()}:"
        config = RATE_LIMITS + redis_config(ARGS.own_redis_port, prefix)
        self.gateways = []
        # Names (and so log files) unique to the test: logs are checked.
        self.gateways.append(start_gateway(config, f"gateway-a-{prefix[5:13]}"))
        self.gateways.append(start_gateway(config, f"gateway-b-{prefix[5:13]}"))

    def tearDown(self):
        for gw in self.gateways:
            gw.kill()
        self.redis.stop()

    def burst(self, source_ip, n=30):
        """n requests from source_ip, alternating between the gateways, on a
        route whose rate limit comes first (no token: 401 when allowed)."""
        allowed = 0
        started = time.monotonic()
        for i in range(n):
            gw = self.gateways[i % 2]
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30,
                                              source_address=(source_ip, 0))
            conn.request("GET", "/api/v1/nodes")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            self.assertIn(resp.status, (401, 429), f"request {i} to {gw.name}")
            if resp.status == 401:
                allowed += 1
            else:
                self.assertGreaterEqual(int(resp.getheader("Retry-After")), 1)
        return allowed, time.monotonic() - started

    def assert_shared(self, allowed, elapsed):
        # One bucket for both: the burst plus what refilled meanwhile.
        self.assertGreaterEqual(allowed, IP_BURST)
        self.assertLessEqual(allowed, IP_BURST + int(elapsed * IP_RATE) + 1,
                             f"{allowed} allowed in {elapsed:.2f} s: not one shared bucket")

    def fallbacks(self, gw):
        return metric(gw.port, "aureo_vpn_redis_fallbacks_total", 'use="rate_limit"')

    def redis_up(self, gw):
        return metric(gw.port, "aureo_vpn_redis_up", 'connection="commands"')

    def test_gateways_share_one_limit_fall_back_to_local_ones_and_share_again(self):
        for gw in self.gateways:
            self.assertEqual(self.redis_up(gw), 1.0)
        token = self.gateways[0].admin_token()
        # Each phase comes from a fresh client address, so fresh buckets.
        allowed, elapsed = self.burst("127.0.0.2")
        print(f"\n  shared: {allowed}/30 allowed in {elapsed:.2f} s", file=sys.stderr)
        self.assert_shared(allowed, elapsed)
        for gw in self.gateways:
            self.assertEqual(self.fallbacks(gw), 0.0)

        self.redis.stop()
        allowed, elapsed = self.burst("127.0.0.3")
        print(f"  redis stopped: {allowed}/30 allowed (local buckets)", file=sys.stderr)
        # Each gateway's own bucket gives the whole burst: twice as many.
        self.assertGreaterEqual(allowed, 2 * IP_BURST)
        for gw in self.gateways:
            self.assertGreaterEqual(self.fallbacks(gw), 15.0)
            self.assertEqual(self.redis_up(gw), 0.0)
        # The node list falls back to the in-memory cache.
        for gw in self.gateways:
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30,
                                              source_address=("127.0.0.5", 0))
            conn.request("GET", "/api/v1/nodes", headers={"Authorization": "Bearer " + token})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            self.assertEqual(resp.status, 200)
            self.assertGreaterEqual(
                metric(gw.port, "aureo_vpn_redis_fallbacks_total", 'use="node_list_cache"'), 1.0)
        # Logged once per gateway for the whole outage, not per request.
        for gw in self.gateways:
            wait_for("the fallback log line",
                     lambda: count_lines(gw.log_path, "rate limits are local") >= 1)
            self.assertEqual(count_lines(gw.log_path, "rate limits are local"), 1, gw.log_tail())

        self.redis.start()  # empty: no buckets, no cached scripts
        for gw in self.gateways:
            wait_for(f"{gw.name} reconnected", lambda: self.redis_up(gw) == 1.0, timeout=60)
        before = [self.fallbacks(gw) for gw in self.gateways]
        allowed, elapsed = self.burst("127.0.0.4")
        print(f"  redis back: {allowed}/30 allowed in {elapsed:.2f} s", file=sys.stderr)
        self.assert_shared(allowed, elapsed)
        self.assertEqual([self.fallbacks(gw) for gw in self.gateways], before)
        for gw in self.gateways:
            wait_for("the recovery log line",
                     lambda: count_lines(gw.log_path, "redis is back: shared again") >= 1)


    def test_a_hung_redis_costs_each_gateway_one_timeout_not_one_per_request(self):
        self.redis.proc.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            # Every request is answered: the first call on each gateway
            # waits out redis.timeout_ms, the rest go local at once.
            allowed, elapsed = self.burst("127.0.0.6")
            print(f"\n  redis hung: {allowed}/30 allowed in {elapsed:.2f} s", file=sys.stderr)
            self.assertGreaterEqual(allowed, 2 * IP_BURST)
            for gw in self.gateways:
                self.assertGreaterEqual(self.fallbacks(gw), 15.0)
                self.assertEqual(self.redis_up(gw), 0.0)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        for gw in self.gateways:
            wait_for(f"{gw.name} reconnected", lambda: self.redis_up(gw) == 1.0, timeout=60)


class SharedNodeListCacheTest(unittest.TestCase):
    def setUp(self):
        prefix = f"test:{uuid.uuid4()}:"
        # An hour: only a shared cache that an admin change clears can show
        # a new node to the other gateway within this test.
        config = LOOSE_LIMITS + '[api]\nnode_list_cache = "1h"\n' + redis_config(
            ARGS.redis_port, prefix)
        self.a = start_gateway(config, f"gateway-a-{prefix[5:13]}")
        self.b = start_gateway(config, f"gateway-b-{prefix[5:13]}")
        self.admin = self.a.admin_token()

    def tearDown(self):
        self.a.kill()
        self.b.kill()

    def nodes(self, gw, city):
        status, body, _, _ = gw.request("GET", f"/api/v1/nodes?city={city}", token=self.admin)
        self.assertEqual(status, 200, body)
        return body["total"]

    def list_queries(self, gw):
        return metric_sum(gw.port, "aureo_vpn_database_queries_total", 'operation="nodes.list"')

    def test_gateways_share_the_node_list_and_an_admin_change_clears_it_everywhere(self):
        city = f"Oslo-{uuid.uuid4().hex[:8]}"
        self.assertEqual(self.nodes(self.b, city), 0)  # b reads the database and fills the cache
        before = self.list_queries(self.a)
        self.assertEqual(self.nodes(self.a, city), 0)
        self.assertEqual(self.list_queries(self.a), before, "a answered from the shared cache")

        status, node = self.a.request("POST", "/api/v1/admin/nodes", {
            "name": f"edge-{city}", "public_ip": "198.51.100.40", "country": "NO", "city": city},
            token=self.admin)[:2]
        self.assertEqual(status, 201, node)
        # The change went through a; b's next answer already has the node.
        self.assertEqual(self.nodes(self.b, city), 1)
        self.assertEqual(self.nodes(self.a, city), 1)
        for gw in (self.a, self.b):
            self.assertEqual(metric(gw.port, "aureo_vpn_redis_fallbacks_total",
                                    'use="node_list_cache"'), 0.0)


class ControlPubSubTest(unittest.TestCase):
    def setUp(self):
        self.prefix = f"test:{uuid.uuid4()}:"
        self.redis = redis_config(ARGS.redis_port, self.prefix)
        self.gw = start_gateway(LOOSE_LIMITS + self.redis, f"gateway-{self.prefix[5:13]}")
        self.admin = self.gw.admin_token()
        self.controls = []

    def tearDown(self):
        for c in self.controls:
            c.kill()
        self.gw.kill()

    def start_control(self, name):
        c = Control(ARGS.control, self.gw.database_url, WORK_DIR,
                    name=f"{name}-{self.prefix[5:13]}",
                    extra_config=f"version_poll_ms = {VERSION_POLL_S * 1000}\n" + self.redis)
        c.start()
        self.controls.append(c)
        return c

    def gw_call(self, method, path, body=None, token=None):
        status, reply, _, _ = self.gw.request(method, path, body, token=token or self.admin)
        return status, reply

    def test_a_killed_leader_is_replaced_within_the_lease_period(self):
        a = self.start_control("control-a")
        wait_for("a leads", lambda: a.status()["leader"])
        b = self.start_control("control-b")
        self.assertFalse(b.status()["leader"])
        token_before = b.status()["lease"]["fencing_token"]
        self.assertEqual(b.status()["lease"]["holder"], a.name)
        a.kill(signal.SIGKILL)
        killed = time.monotonic()
        wait_for("b leads", lambda: b.status()["leader"], timeout=FAST["lease"] * 10, interval=0.05)
        took = time.monotonic() - killed
        print(f"\n  {b.name} took over {took:.2f} s after the leader was killed "
              f"(lease period {FAST['lease']} s)", file=sys.stderr)
        status = b.status()
        self.assertEqual(status["lease"]["holder"], b.name)
        self.assertEqual(status["lease"]["fencing_token"], token_before + 1)
        # The lease lapses at most one period after the last renewal and b
        # looks every third of it; loose on purpose, the machine is shared.
        self.assertLess(took, FAST["lease"] * 3)

    def test_a_session_made_through_the_gateway_wakes_a_long_poll_on_another_control(self):
        a = self.start_control("control-a")
        suffix = uuid.uuid4().hex[:8]
        status, node = self.gw_call("POST", "/api/v1/admin/nodes", {
            "name": f"edge-{suffix}", "public_ip": "198.51.100.30", "country": "SE",
            "city": f"Stockholm-{suffix}"})
        self.assertEqual(status, 201, node)
        sim = SimNode(a.port, node["enrollment_token"])
        sim.start_heartbeats()
        try:
            wait_for("node online", lambda: self.gw_call(
                "GET", f"/api/v1/nodes/{sim.node_id}")[1]["status"] == "online")

            # b's database poll runs once at start (nothing waits yet), then
            # not before this moment: only pub/sub can wake a poll earlier.
            b_started = time.monotonic()
            b = self.start_control("control-b")
            fallback_earliest = b_started + VERSION_POLL_S * (1 - VERSION_POLL_JITTER)
            wait_for("b subscribed", lambda: metric(
                b.port, "aureo_vpn_redis_up", 'connection="subscriber"') == 1.0)

            code, state = http_request(b.port, "GET", "/api/v1/node/desired-state",
                                       token=sim.credential)
            self.assertEqual(code, 200, state)
            result = {}

            def poll():
                result["reply"] = http_request(
                    b.port, "GET", f"/api/v1/node/desired-state?version={state['version']}&wait=55",
                    token=sim.credential, timeout=90)
                result["at"] = time.monotonic()
            poller = threading.Thread(target=poll)
            poller.start()
            wait_for("the long-poll parked on b", lambda: metric(
                b.port, "aureo_vpn_node_long_polls_waiting") == 1.0)

            status, reg = self.gw_call("POST", "/api/v1/auth/register", {
                "email": f"client-{suffix}@example.test", "username": f"client{suffix}",
                "password": "correct horse battery"}, token="-")
            self.assertEqual(status, 201, reg)
            status, created = self.gw_call("POST", "/api/v1/sessions", {
                "protocol": "wireguard", "node_id": sim.node_id}, token=reg["access_token"])
            posted_at = time.monotonic()
            self.assertEqual(status, 201, created)
            poller.join(timeout=120)
            self.assertFalse(poller.is_alive())
            code, woken = result["reply"]
            self.assertEqual(code, 200, woken)
            session = created["session"]
            self.assertGreater(woken["version"], state["version"])
            self.assertEqual([p["session_id"] for p in woken["peers"]], [session["id"]])
            print(f"\n  long-poll on {b.name} woke {(result['at'] - posted_at) * 1000:.0f} ms after "
                  f"the gateway's POST; the database poll could not run for another "
                  f"{fallback_earliest - result['at']:.1f} s", file=sys.stderr)
            self.assertLess(result["at"], fallback_earliest,
                            "woken no earlier than the database poll could have: not by pub/sub")
            # b never re-subscribed (a re-subscription also polls the
            # database). Info lines reach the log file in batches.
            wait_for("b's log", lambda: count_lines(b.log_path, "redis subscribed") >= 1)
            self.assertEqual(count_lines(b.log_path, "redis subscribed"), 1)
        finally:
            sim.stop_heartbeats()


def main():
    global ARGS, WORK_DIR, DATABASE_URL
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--redis-port", type=int, default=26379,
                        help="the fixture redis-server, left running")
    parser.add_argument("--own-redis-port", type=int, default=26381,
                        help="for a redis-server this test starts, stops and restarts")
    parser.add_argument("--database", default=None,
                        help="database.url for every process (default: a new SQLite file); "
                             "'postgres': a fresh schema on AUREO_TEST_POSTGRES_URL (ctest's "
                             "postgres fixture), dropped afterwards")
    ARGS, rest = parser.parse_known_args()
    WORK_DIR = tempfile.mkdtemp(prefix="aureo-redis-test-")
    schema = None
    if ARGS.database == "postgres":
        base = os.environ["AUREO_TEST_POSTGRES_URL"]
        schema = "redis_" + uuid.uuid4().hex[:12]
        psql(base, f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in base else "?"
        DATABASE_URL = f"{base}{sep}options=-csearch_path%3D{schema}"
    else:
        DATABASE_URL = ARGS.database or f"sqlite:{os.path.join(WORK_DIR, 'aureo.db')}"
    try:
        run = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    finally:
        if schema:
            psql(os.environ["AUREO_TEST_POSTGRES_URL"], f"DROP SCHEMA {schema} CASCADE")
    if run.result.wasSuccessful():
        shutil.rmtree(WORK_DIR, ignore_errors=True)
        sys.exit(0)
    print(f"logs kept in {WORK_DIR}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
