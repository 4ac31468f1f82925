"""`aureo-vpn admin backup` against a real aureo-gateway taking writes.

A backup taken while the gateway writes must hold every write the gateway
acknowledged before the backup started, pass PRAGMA integrity_check, and be
readable by the store (a second gateway serves the restored database and its
users can sign in). Restoring over the running gateway's database is refused
unless --force.

Run: python3 test_backup.py --cli build/bin/aureo-vpn --gateway build/bin/aureo-gateway
"""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from gateway import Gateway  # noqa: E402
from test_api import LOOSE_LIMITS  # noqa: E402

CLI = GATEWAY = None
PASSWORD = "correct horse battery"


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)


class Load:
    """Writes through the API from two threads until stopped: node creates
    (cheap) and registrations (Argon2id). Records what was acknowledged."""

    def __init__(self, gw, admin_token):
        self.gw = gw
        self.admin = admin_token
        self.lock = threading.Lock()
        self.attempted_nodes, self.acked_nodes = set(), set()
        self.attempted_users, self.acked_users = set(), set()
        self.errors = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._nodes), threading.Thread(target=self._users)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def snapshot(self):
        with self.lock:
            return set(self.acked_nodes), set(self.acked_users)

    def _nodes(self):
        i = 0
        while not self.stop.is_set():
            name = f"ops-load-{i}"
            i += 1
            with self.lock:
                self.attempted_nodes.add(name)
            status, body, _, _ = self.gw.request("POST", "/api/v1/admin/nodes", {
                "name": name, "public_ip": "198.51.100.7", "country": "DE"}, token=self.admin)
            with self.lock:
                if status == 201:
                    self.acked_nodes.add(name)
                else:
                    self.errors.append((status, body))

    def _users(self):
        i = 0
        while not self.stop.is_set():
            email = f"ops-user-{i}@example.test"
            with self.lock:
                self.attempted_users.add(email)
            status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
                "email": email, "username": f"opsuser{i}", "password": PASSWORD})
            i += 1
            with self.lock:
                if status == 201:
                    self.acked_users.add(email)
                else:
                    self.errors.append((status, body))


def rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute(sql)]
    finally:
        conn.close()


class BackupUnderLoadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aureo-ops-backup-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.gw = Gateway(GATEWAY, LOOSE_LIMITS).start()
        self.addCleanup(self.gw.close)
        self.admin = self.gw.admin_token()

    def wait_for_acks(self, load, nodes, users):
        deadline_checks = 0
        while True:
            n, u = load.snapshot()
            if len(n) >= nodes and len(u) >= users:
                return
            deadline_checks += 1
            self.assertLess(deadline_checks, 6000, f"load made no progress: {load.errors[:3]}")
            threading.Event().wait(0.05)

    def test_backup_under_load_restores_every_acknowledged_row(self):
        live = self.gw.db_path
        backup = os.path.join(self.dir, "aureo-backup.db")
        load = Load(self.gw, self.admin).start()
        try:
            self.wait_for_acks(load, nodes=100, users=3)
            nodes_before, users_before = load.snapshot()
            result = cli("admin", "backup", "create", "--database", f"sqlite:{live}",
                         "--output", backup)
            # Keep writing a little after the backup, so the restore below has
            # something to take away.
            self.wait_for_acks(load, nodes=len(load.snapshot()[0]) + 20, users=0)
        finally:
            load.join()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Backed up the sqlite database", result.stdout)
        self.assertEqual(load.errors, [])

        # The backup file on its own: sound, and holding every acknowledged row.
        self.assertEqual(rows(backup, "PRAGMA integrity_check"), ["ok"])
        self.assertEqual(rows(backup, "PRAGMA journal_mode"), ["delete"])
        backed_nodes = set(rows(backup, "SELECT name FROM vpn_nodes"))
        backed_users = set(rows(backup, "SELECT email FROM users"))
        self.assertLessEqual(nodes_before, backed_nodes)
        self.assertLessEqual(users_before, backed_users)
        self.assertLessEqual(backed_nodes, load.attempted_nodes)
        self.assertLessEqual(backed_users - {"admin@example.test"}, load.attempted_users)
        all_nodes, _ = load.snapshot()
        self.assertLess(len(backed_nodes), len(all_nodes), "the load did not outlast the backup")

        # Restoring over the database the gateway holds is refused...
        refused = cli("admin", "backup", "restore", "--database", f"sqlite:{live}",
                      "--input", backup)
        self.assertEqual(refused.returncode, 1, refused.stdout)
        self.assertEqual(len(refused.stderr.splitlines()), 1, refused.stderr)
        self.assertIn(f"open in a running process (pid {self.gw.proc.pid})", refused.stderr)
        self.assertIn("--force", refused.stderr)
        self.assertEqual(set(rows(live, "SELECT name FROM vpn_nodes")), all_nodes)

        # ...and restoring into a fresh place works; the store reads it.
        restored_dir = os.path.join(self.dir, "restored")
        restored = os.path.join(restored_dir, "aureo.db")
        ok = cli("admin", "backup", "restore", "--database", f"sqlite:{restored}",
                 "--input", backup)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(rows(restored, "PRAGMA integrity_check"), ["ok"])

        # The database holds the OpenVPN CA sealed with the master key: a
        # restore needs the key too (docs/operations.md keeps them together).
        shutil.copy2(os.path.join(self.gw.dir, "master.key"), restored_dir)
        gw2 = Gateway(GATEWAY, LOOSE_LIMITS, data_dir=restored_dir)
        self.addCleanup(gw2.close)
        gw2.start()
        self.assertIsNone(gw2.admin_password, "the restored database lost its admin")
        admin2 = gw2.login("admin@example.test", self.gw.admin_password)["access_token"]
        status, page, _, _ = gw2.request("GET", "/api/v1/admin/nodes", token=admin2)
        self.assertEqual(status, 200, page)
        self.assertEqual({n["name"] for n in page["nodes"]}, backed_nodes)
        for email in sorted(users_before):
            status, body, _, _ = gw2.request("POST", "/api/v1/auth/login",
                                             {"email": email, "password": PASSWORD})
            self.assertEqual(status, 200, (email, body))
        status, stats, _, _ = gw2.request("GET", "/api/v1/admin/stats", token=admin2)
        self.assertEqual(status, 200, stats)

        # --force restores under the running gateway, which then serves the
        # backup's rows.
        forced = cli("admin", "backup", "restore", "--database", f"sqlite:{live}",
                     "--input", backup, "--force")
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertEqual(rows(live, "PRAGMA integrity_check"), ["ok"])
        status, page, _, _ = self.gw.request("GET", "/api/v1/admin/nodes", token=self.admin)
        self.assertEqual(status, 200, page)
        self.assertEqual({n["name"] for n in page["nodes"]}, backed_nodes)

    def test_bad_inputs_fail_with_one_line(self):
        junk = os.path.join(self.dir, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"\x00garbage" * 1000)
        cases = [
            (("create", "--database", f"sqlite:{self.dir}/missing.db", "--output",
              f"{self.dir}/b.db"), 1, "does not exist"),
            (("restore", "--database", f"sqlite:{self.dir}/t.db", "--input",
              f"{self.dir}/missing.db"), 1, "does not exist"),
            (("restore", "--database", f"sqlite:{self.dir}/t.db", "--input", junk), 1,
             "not a SQLite database"),
            (("create", "--database", "redis://localhost/0", "--output", f"{self.dir}/b.db"), 2,
             "unsupported database URL"),
            (("create", "--database", "postgres://aureo:pw@127.0.0.1:1/aureo", "--output",
              f"{self.dir}/b.dump"), 1, "pg_dump failed"),
        ]
        for args, code, message in cases:
            with self.subTest(args=args):
                r = cli("admin", "backup", *args)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("aureo-vpn: "), r.stderr)
                self.assertIn(message, r.stderr)
                self.assertNotIn("pw@", r.stderr)
        self.assertFalse(os.path.exists(f"{self.dir}/t.db"))
        self.assertFalse(os.path.exists(f"{self.dir}/missing.db"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--gateway", required=True)
    args, rest = parser.parse_known_args()
    CLI = os.path.abspath(args.cli)
    GATEWAY = os.path.abspath(args.gateway)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
