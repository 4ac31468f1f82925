"""PostgreSQL restarted under load while a real aureo-gateway takes writes.

Starts a private cluster of its own (not the shared `postgres` fixture, which
other tests use at the same time), runs writers against the gateway, stops
PostgreSQL in fast mode, starts it again, and checks: every error during the
outage is a 503 (never a 500 or a hang), the gateway recovers by itself, and
every write it acknowledged is in the database.

Run: python3 test_pg_restart.py --binary build/bin/aureo-gateway --cluster tests/postgres/pg_cluster.sh
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from gateway import Gateway  # noqa: E402

BINARY = None
CLUSTER = None
PORT = 25437  # the shared fixture uses 25432; this test owns its cluster

CONFIG = """
[ratelimit]
ip_rate = 100000
ip_burst = 100000
account_rate = 100000
account_burst = 100000
"""

WRITERS = 4


def cluster(*args):
    return subprocess.run([CLUSTER, *args], check=True, capture_output=True, text=True).stdout.strip()


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aureo-pgrestart-")
        self.state = os.path.join(self.tmp, "cluster.state")
        self.url = cluster("start", self.state, str(PORT))
        self.gw = None

    def tearDown(self):
        try:
            if self.gw:
                self.gw.close()
        finally:
            cluster("stop", self.state)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_outage_answers_503_recovers_and_loses_no_acknowledged_write(self):
        self.gw = Gateway(BINARY, CONFIG, env={
            "AUREO_DATABASE_URL": self.url,
            "AUREO_DATABASE_ACQUIRE_TIMEOUT": "2s",
            "AUREO_DATABASE_STATEMENT_TIMEOUT": "5s",
        }).start()
        token = self.gw.admin_token()

        acked = []            # ids of nodes the gateway answered 201 for
        statuses = collections.Counter()
        phase = {"name": "before"}
        by_phase = collections.defaultdict(collections.Counter)
        lock = threading.Lock()
        stop = threading.Event()

        def writer(w):
            i = 0
            while not stop.is_set():
                i += 1
                name = f"pgr-{w}-{i}"
                try:
                    status, body, _, _ = self.gw.request(
                        "POST", "/api/v1/admin/nodes",
                        {"name": name, "public_ip": "203.0.113.7", "country": "DE", "city": "Berlin"},
                        token=token)
                except OSError as e:  # the gateway must keep answering
                    status, body = f"transport error {e}", None
                with lock:
                    statuses[status] += 1
                    by_phase[phase["name"]][status] += 1
                    if status == 201:
                        acked.append(body["id"])
                if status != 201:
                    time.sleep(0.02)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        try:
            self.wait_for(lambda: len(acked) >= 50, "writes before the outage")
            with lock:
                phase["name"] = "outage"
            cluster("pause", self.state)  # fast-mode stop: sessions are cut off
            self.wait_for(lambda: by_phase["outage"][503] >= 20, "503s during the outage")
            health, _, _, _ = self.gw.request("GET", "/health/ready")
            cluster("resume", self.state)
            with lock:
                phase["name"] = "after"
            self.wait_for(lambda: by_phase["after"][201] >= 50, "writes after the restart")
        finally:
            stop.set()
            for t in threads:
                t.join()

        print("statuses by phase:", {k: dict(v) for k, v in by_phase.items()}, flush=True)
        unexpected = {s: n for s, n in statuses.items() if s not in (201, 503)}
        self.assertEqual(unexpected, {}, "only 201 and 503 may be answered")
        self.assertGreater(by_phase["outage"][503], 0)
        self.assertEqual(health, 503, "readiness reports the outage")
        health, _, _, _ = self.gw.request("GET", "/health/ready")
        self.assertEqual(health, 200)

        status, body, _, _ = self.gw.request("GET", "/api/v1/admin/nodes", token=token)
        self.assertEqual(status, 200)
        stored = {n["id"] for n in body["nodes"]}
        missing = [i for i in acked if i not in stored]
        self.assertEqual(missing, [], f"{len(missing)} of {len(acked)} acknowledged writes lost")
        self.assertEqual(len(acked), len(set(acked)))

    def wait_for(self, cond, what, timeout=120):
        # Generous: a bound on a hang, not a performance assertion.
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}; gateway log:\n{self.gw.log_tail()}")
            time.sleep(0.05)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--cluster", required=True)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    CLUSTER = os.path.abspath(args.cluster)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
