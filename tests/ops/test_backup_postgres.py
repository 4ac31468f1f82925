"""`aureo-vpn admin backup` on PostgreSQL: pg_dump -Fc / pg_restore through
the real client tools against a real server.

Two ways to run it:
- without --database-url: starts a private PostgreSQL 15 cluster (initdb as
  the postgres user, 127.0.0.1:25498 only, password authentication) and
  writes an Aureo-shaped schema by hand: what the backup path needs
  (schema_migrations) and rows to count;
- with --database-url URL --gateway BIN (the store's PostgreSQL backend
  built): a real aureo-gateway creates the schema on that database and takes
  writes through the API while the backup runs, as tests/ops/test_backup.py
  does on SQLite. The database is wiped by the restore: give it one no other
  test is using at the same time.

Run: python3 test_backup_postgres.py --cli build/bin/aureo-vpn [--database-url URL --gateway BIN]
"""
import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))

CLI = GATEWAY = URL = None
PG_BIN = "/usr/lib/postgresql/15/bin"
PORT = 25498
PASSWORD = "ops-backup-pw-7f3a"


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)


def psql(url, sql):
    u = urllib.parse.urlparse(url)
    env = dict(os.environ, PGPASSWORD=urllib.parse.unquote(u.password or ""))
    r = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", u.hostname,
                        "-p", str(u.port or 5432), "-U", urllib.parse.unquote(u.username),
                        "-d", u.path.lstrip("/"), "-c", sql],
                       capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {r.stderr}")
    return [line for line in r.stdout.splitlines() if line]


class PrivateCluster:
    """initdb + postgres on 127.0.0.1:PORT, as the postgres user (initdb
    refuses root)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="aureo-ops-pg-")
        pg = pwd.getpwnam("postgres")
        os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        self.as_pg = [] if os.getuid() == pg.pw_uid else ["runuser", "-u", "postgres", "--"]
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chown(pwfile, pg.pw_uid, pg.pw_gid)
        data = os.path.join(self.dir, "data")
        self.data = data
        try:
            subprocess.run([*self.as_pg, f"{PG_BIN}/initdb", "-D", data, "-U", "aureo",
                            "--auth=scram-sha-256", f"--pwfile={pwfile}"],
                           check=True, capture_output=True, timeout=120)
            subprocess.run([*self.as_pg, f"{PG_BIN}/pg_ctl", "-D", data, "-l",
                            os.path.join(self.dir, "log"), "-w", "-t", "60", "-o",
                            f"-p {PORT} -c listen_addresses=127.0.0.1 -k {self.dir}", "start"],
                           check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as e:
            sys.stderr.write((e.stderr or b"").decode(errors="replace")[-2000:])
            log = os.path.join(self.dir, "log")
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    sys.stderr.write(f.read()[-2000:])
            self.close()
            raise
        self.url = f"postgres://aureo:{PASSWORD}@127.0.0.1:{PORT}/aureo"
        psql(f"postgres://aureo:{PASSWORD}@127.0.0.1:{PORT}/postgres", "CREATE DATABASE aureo")

    def close(self):
        subprocess.run([*self.as_pg, f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                        "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


_cluster = None


def setUpModule():
    global _cluster, URL
    if URL is None:
        _cluster = PrivateCluster()
        URL = _cluster.url


def tearDownModule():
    if _cluster:
        _cluster.close()


class Base(unittest.TestCase):
    @property
    def url(self):
        return URL

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="aureo-ops-pgb-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write_rows(self):
        """A hand-made Aureo-shaped schema (schema_migrations at version 1)
        with 500 nodes, replacing whatever those tables held."""
        psql(self.url, "DROP TABLE IF EXISTS vpn_nodes, schema_migrations")
        psql(self.url, "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, "
                       "name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        psql(self.url, "INSERT INTO schema_migrations VALUES (1, 'initial', 0)")
        psql(self.url, "CREATE TABLE vpn_nodes (id TEXT PRIMARY KEY, name TEXT UNIQUE)")
        psql(self.url, "INSERT INTO vpn_nodes SELECT 'id-' || g, 'pg-before-' || g "
                       "FROM generate_series(1, 500) g")

class PostgresBackupTest(Base):
    def test_backup_and_restore_round_trip(self):
        backup = os.path.join(self.dir, "aureo.dump")
        gw = None
        if GATEWAY is not None:
            from gateway import Gateway
            from test_api import LOOSE_LIMITS
            from test_backup import Load
            gw = Gateway(GATEWAY, LOOSE_LIMITS, env={"AUREO_DATABASE_URL": self.url}).start()
            self.addCleanup(gw.close)
            load = Load(gw, gw.admin_token()).start()
            try:
                while len(load.snapshot()[0]) < 100:
                    time.sleep(0.05)
                before, _ = load.snapshot()
                r = cli("admin", "backup", "create", "--database", self.url, "--output", backup)
                n = len(load.snapshot()[0])
                while len(load.snapshot()[0]) < n + 20:
                    time.sleep(0.05)
            finally:
                load.join()
            self.assertEqual(load.errors, [])
        else:
            self.write_rows()
            before = set(psql(self.url, "SELECT name FROM vpn_nodes"))
            r = cli("admin", "backup", "create", "--database", self.url, "--output", backup)
            psql(self.url, "INSERT INTO vpn_nodes VALUES ('id-after', 'pg-after')")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Backed up the postgres database", r.stdout)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        listed = subprocess.run(["pg_restore", "--list", backup], capture_output=True, text=True)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("TABLE DATA public vpn_nodes", listed.stdout)

        if gw is not None:
            # Still connected: restore refuses unless --force.
            refused = cli("admin", "backup", "restore", "--database", self.url, "--input", backup)
            self.assertEqual(refused.returncode, 1, refused.stdout)
            self.assertIn("other connection(s) are open", refused.stderr)
            self.assertEqual(len(refused.stderr.splitlines()), 1)
            gw.kill()

        ok = cli("admin", "backup", "restore", "--database", self.url, "--input", backup)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        restored = set(psql(self.url, "SELECT name FROM vpn_nodes"))
        self.assertLessEqual(before, restored)
        self.assertNotIn("pg-after", restored)

        if gw is not None:
            # The store reads the restored database.
            gw.start()
            admin = gw.login("admin@example.test", gw.admin_password)["access_token"]
            status, page, _, _ = gw.request("GET", "/api/v1/admin/nodes", token=admin)
            self.assertEqual(status, 200, page)
            self.assertEqual({n["name"] for n in page["nodes"]}, restored)

    def test_bad_inputs_fail_with_one_line_and_no_password(self):
        u = urllib.parse.urlparse(self.url)
        wrong = f"postgres://{u.username}:not-the-password@{u.hostname}:{u.port}{u.path}"
        junk = os.path.join(self.dir, "junk.dump")
        with open(junk, "w") as f:
            f.write("not an archive\n")
        cases = [
            (("create", "--database", wrong, "--output", os.path.join(self.dir, "x.dump")),
             "password authentication failed"),
            (("restore", "--database", self.url, "--input", junk), "is not a pg_dump archive"),
            (("restore", "--database", self.url, "--input", os.path.join(self.dir, "none")),
             "does not exist"),
        ]
        for args, message in cases:
            with self.subTest(args=args[0] + " " + message):
                r = cli("admin", "backup", *args)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertNotIn("not-the-password", r.stderr)
                self.assertNotIn(PASSWORD, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x.dump")))


class HandMadeSchemaTest(Base):
    """Only without --gateway: these edit schema_migrations by hand."""

    def test_restore_refuses_a_database_with_a_newer_schema_than_the_backup(self):
        self.write_rows()
        backup = os.path.join(self.dir, "old.dump")
        self.assertEqual(cli("admin", "backup", "create", "--database", self.url, "--output",
                             backup).returncode, 0)
        psql(self.url, "INSERT INTO schema_migrations VALUES (2, 'newer', 0)")
        r = cli("admin", "backup", "restore", "--database", self.url, "--input", backup)
        self.assertEqual(r.returncode, 1)
        self.assertIn("newer than the backup's 1", r.stderr)
        self.assertEqual(psql(self.url, "SELECT MAX(version) FROM schema_migrations"), ["2"])

    def test_restore_refuses_while_another_session_is_connected(self):
        self.write_rows()
        backup = os.path.join(self.dir, "b.dump")
        self.assertEqual(cli("admin", "backup", "create", "--database", self.url, "--output",
                             backup).returncode, 0)
        u = urllib.parse.urlparse(self.url)
        holder = subprocess.Popen(
            ["psql", "-X", "-h", u.hostname, "-p", str(u.port), "-U", u.username, "-d", "aureo",
             "-c", "SELECT pg_sleep(120)"],
            env=dict(os.environ, PGPASSWORD=urllib.parse.unquote(u.password)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        # The server only notices a gone client when pg_sleep ends: end it,
        # and wait until the session is gone for the next test.
        def end_holder():
            psql(self.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()")
            for _ in range(600):
                if psql(self.url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                  "'SELECT pg_sleep%' AND pid <> pg_backend_pid()") == ["0"]:
                    return
                time.sleep(0.05)
        self.addCleanup(end_holder)
        for _ in range(600):
            if psql(self.url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                              "'SELECT pg_sleep%' AND pid <> pg_backend_pid()") == ["1"]:
                break
            time.sleep(0.05)
        r = cli("admin", "backup", "restore", "--database", self.url, "--input", backup)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(r.stderr.strip(), "aureo-vpn: 1 other connection(s) are open on "
                                           "database aureo; stop the servers using it first, "
                                           "or pass --force")
        forced = cli("admin", "backup", "restore", "--database", self.url, "--input", backup,
                     "--force")
        self.assertEqual(forced.returncode, 0, forced.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--gateway")
    parser.add_argument("--database-url", default=os.environ.get("AUREO_TEST_POSTGRES_URL"))
    args, rest = parser.parse_known_args()
    CLI = os.path.abspath(args.cli)
    GATEWAY = os.path.abspath(args.gateway) if args.gateway else None
    URL = args.database_url
    if GATEWAY is not None and URL is None:
        parser.error("--gateway needs --database-url (or AUREO_TEST_POSTGRES_URL)")
    if GATEWAY is not None:
        del HandMadeSchemaTest  # the gateway owns the real schema
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
