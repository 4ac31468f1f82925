"""The aureo-vpn binary against the real aureo-gateway (and aureo-control with a
simulated node for sessions). Each test signs in with its own temporary HOME.

Run: python3 test_cli.py --cli build/bin/aureo-vpn --gateway build/bin/aureo-gateway \
         --control build/bin/aureo-control
"""
import argparse
import concurrent.futures
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from control import Control, SimNode, wait_for  # noqa: E402
from gateway import Gateway, decode_jwt  # noqa: E402
from test_api import LOOSE_LIMITS  # noqa: E402

CLI = GATEWAY = CONTROL = None
PASSWORD = "correct horse battery"
_names = itertools.count()
_countries = itertools.product("QRSTUVWXYZ", repeat=2)


def run_cli(home, url, *args, stdin=None, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "AUREO_URL")}
    e["HOME"] = home
    if url:
        e["AUREO_URL"] = url
    e.update(env or {})
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, env=e,
                          timeout=120)


class Home:
    """A temporary HOME with its own ~/.config/aureo-vpn."""

    def __init__(self, gw):
        self.path = tempfile.mkdtemp(prefix="aureo-cli-home-")
        self.url = f"http://127.0.0.1:{gw.port}"

    def run(self, *args, stdin=None, url=True, env=None):
        return run_cli(self.path, self.url if url else None, *args, stdin=stdin, env=env)

    def config_dir(self):
        return os.path.join(self.path, ".config", "aureo-vpn")

    def credentials(self):
        with open(os.path.join(self.config_dir(), "credentials.json")) as f:
            return json.load(f)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


class CliTestBase(unittest.TestCase):
    def home(self):
        h = Home(self.gw)
        self.addCleanup(h.close)
        return h

    def ok(self, result):
        self.assertEqual(result.returncode, 0, f"stdout={result.stdout!r} stderr={result.stderr!r}")
        return result.stdout

    def ok_json(self, result):
        return json.loads(self.ok(result))

    def fails(self, result, code, message=None):
        """A failure is exactly one line on stderr, prefixed with the program name."""
        self.assertEqual(result.returncode, code, f"stdout={result.stdout!r} stderr={result.stderr!r}")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("aureo-vpn: "), lines[0])
        if message:
            self.assertIn(message, lines[0])
        return lines[0]

    def admin_home(self):
        h = self.home()
        self.ok(h.run("login", "admin@example.test", "--password-stdin",
                      stdin=self.gw.admin_password + "\n"))
        return h

    def register(self, tier=None):
        name = f"cli{next(_names)}"
        status, body, _, _ = self.gw.request("POST", "/api/v1/auth/register", {
            "email": f"{name}@example.test", "username": name, "password": PASSWORD})
        self.assertEqual(status, 201, body)
        return body["user"]


class CliTest(CliTestBase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GATEWAY, LOOSE_LIMITS).start()
        cls.ctl = Control(CONTROL, cls.gw.db_path, cls.gw.dir).start()
        cls.sims = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.sims:
            s.stop_heartbeats()
        cls.ctl.kill()
        cls.gw.close()

    # ---- accounts ----
    def test_wrong_password_is_one_line_and_exit_1_and_stores_nothing(self):
        h = self.home()
        r = h.run("login", "admin@example.test", "--password-stdin", stdin="not the password\n")
        self.fails(r, 1, "invalid email or password")
        self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(os.path.join(h.config_dir(), "credentials.json")))

    def test_login_stores_owner_only_tokens_and_whoami_uses_them(self):
        h = self.admin_home()
        self.assertEqual(stat.S_IMODE(os.stat(h.config_dir()).st_mode), 0o700)
        creds_path = os.path.join(h.config_dir(), "credentials.json")
        self.assertEqual(stat.S_IMODE(os.stat(creds_path).st_mode), 0o600)
        creds = h.credentials()
        self.assertEqual(creds["server"], h.url)
        self.assertEqual(creds["role"], "admin")
        out = self.ok(h.run("whoami"))
        self.assertRegex(out, r"(?m)^Email:\s+admin@example\.test$")
        self.assertRegex(out, r"(?m)^Role:\s+admin$")
        me = self.ok_json(h.run("whoami", "--json"))
        self.assertEqual(me["email"], "admin@example.test")

        # Later commands find the server through the stored login alone.
        self.assertEqual(self.ok_json(h.run("whoami", "--compact", url=False))["role"], "admin")
        # ... or through config.toml.
        with open(os.path.join(h.config_dir(), "config.toml"), "w") as f:
            f.write(f'server = "{h.url}/"\n')
        self.assertEqual(self.ok_json(h.run("--json", "whoami", url=False))["role"], "admin")

    def test_logout_forgets_the_tokens_and_ends_the_login_on_the_server(self):
        h = self.admin_home()
        refresh = h.credentials()["refresh_token"]
        self.assertIn("Logged out", self.ok(h.run("logout")))
        self.assertFalse(os.path.exists(os.path.join(h.config_dir(), "credentials.json")))
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh", {"refresh_token": refresh})
        self.assertEqual(status, 401)
        self.fails(h.run("whoami"), 1, "not logged in")

    def test_not_logged_in_unreachable_server_and_bad_flags_are_one_line(self):
        h = self.home()
        self.fails(h.run("node", "list"), 1, "not logged in")
        self.fails(h.run("--server", "http://127.0.0.1:1", "whoami"), 1, "not logged in")
        self.fails(h.run("--server", "http://127.0.0.1:1", "login", "a@b.test", "--password-stdin",
                         stdin="x\n"), 1, "cannot reach http://127.0.0.1:1")
        self.fails(h.run("--server", "not-a-url", "whoami"), 1, "must look like")
        self.fails(h.run("node", "create", "--name", "x"), 2)
        self.fails(h.run("node", "frobnicate"), 2)
        self.fails(h.run("user", "set-tier", "someone", "platinum"), 2, "platinum")
        self.fails(h.run("--timeout", "0", "whoami"), 2)
        self.fails(h.run(), 2)
        r = run_cli(h.path, None, "whoami")
        self.fails(r, 1, "no server configured")

    def test_every_command_has_help(self):
        h = self.home()
        commands = [[], ["login"], ["logout"], ["whoami"], ["node"], ["user"], ["session"],
                    ["stats"], ["config"], ["config", "generate"]]
        commands += [["node", c] for c in ("create", "list", "show", "update", "delete", "drain", "token")]
        commands += [["user", c] for c in ("list", "show", "disable", "enable", "set-tier", "delete")]
        commands += [["session", c] for c in ("list", "kill")]
        for cmd in commands:
            r = h.run(*cmd, "--help")
            self.assertEqual(r.returncode, 0, (cmd, r.stderr))
            self.assertIn("Usage: aureo-vpn", r.stdout, cmd)
            self.assertIn(" ".join(["aureo-vpn", *cmd]), r.stdout, cmd)

    # ---- nodes ----
    def test_node_lifecycle(self):
        h = self.admin_home()
        name = f"cli-node-{next(_names)}"
        out = self.ok(h.run("node", "create", "--name", name, "--ip", "203.0.113.20",
                            "--country", "DE", "--city", "Frankfurt", "--protocol", "wireguard"))
        self.assertIn(f"Created node {name}", out)
        token = re.search(r"Enrollment token.*\n(\S+)\n", out)
        self.assertIsNotNone(token, out)
        self.assertGreater(len(token.group(1)), 20)

        table = self.ok(h.run("node", "list")).splitlines()
        self.assertRegex(table[0], r"^NAME\s+COUNTRY\s+CITY\s+STATUS\s+PUBLIC IP\s+PROTOCOLS")
        [row] = [line for line in table if line.startswith(name + " ")]
        self.assertRegex(row, r"DE\s+Frankfurt\s+offline\s+203\.0\.113\.20\s+wireguard")
        # Columns line up: the STATUS column starts at the same offset in every row.
        col = table[0].index("STATUS")
        self.assertTrue(all(line[col:col + 1].strip() for line in table[1:]), table)

        nodes = self.ok_json(h.run("node", "list", "--json"))["nodes"]
        [node] = [n for n in nodes if n["name"] == name]
        self.assertEqual(node["status"], "offline")
        self.assertEqual(self.ok_json(h.run("node", "list", "--country", "de", "--json"))["total"],
                         len([n for n in nodes if n["country"] == "DE"]))

        shown = self.ok(h.run("node", "show", name))
        self.assertRegex(shown, rf"(?m)^ID:\s+{node['id']}$")
        self.assertEqual(self.ok_json(h.run("node", "show", node["id"], "--json"))["name"], name)

        updated = self.ok_json(h.run("node", "update", name, "--city", "Berlin", "--max-connections",
                                     "50", "--json"))
        self.assertEqual((updated["city"], updated["max_connections"]), ("Berlin", 50))
        self.fails(h.run("node", "update", name), 2, "at least one field")
        self.assertEqual(updated["openvpn_transport"], "udp")
        updated = self.ok_json(h.run("node", "update", name, "--openvpn-transport", "tcp",
                                     "--openvpn-port", "443", "--json"))
        self.assertEqual((updated["openvpn_transport"], updated["openvpn_port"]), ("tcp", 443))
        self.assertRegex(self.ok(h.run("node", "show", name)), r"(?m)^OpenVPN transport:\s+tcp$")
        self.fails(h.run("node", "update", name, "--openvpn-transport", "quic"), 2)

        new_token = self.ok(h.run("node", "token", name))
        self.assertIn("New enrollment token", new_token)
        self.assertNotIn(token.group(1), new_token)
        self.assertEqual(self.ok_json(h.run("node", "drain", name, "--json"))["status"], "draining")

        self.assertIn("Deleted node", self.ok(h.run("node", "delete", name)))
        self.fails(h.run("node", "show", name), 1, f"no node with the id or name '{name}'")
        self.fails(h.run("node", "create", "--name", "bad name!", "--ip", "203.0.113.1",
                         "--country", "DE"), 1, "name")

    # ---- users ----
    def test_user_admin_commands(self):
        h = self.admin_home()
        user = self.register()
        email = user["email"]
        table = self.ok(h.run("user", "list", "--search", user["username"]))
        self.assertRegex(table.splitlines()[0], r"^EMAIL\s+USERNAME\s+ROLE\s+TIER\s+ACTIVE")
        self.assertRegex(table, rf"(?m)^{re.escape(email)}\s+{user['username']}\s+user\s+free\s+yes")
        page = self.ok_json(h.run("user", "list", "--json", "--limit", "1"))
        self.assertEqual(page["limit"], 1)
        self.assertGreaterEqual(page["total"], 2)
        self.assertIn("next page: --offset 1", self.ok(h.run("user", "list", "--limit", "1")))

        shown = self.ok_json(h.run("user", "show", email, "--json"))
        self.assertEqual((shown["id"], shown["active_sessions"]), (user["id"], 0))
        self.assertRegex(self.ok(h.run("user", "show", user["username"])), r"(?m)^Tier:\s+free$")

        self.assertIn("Disabled", self.ok(h.run("user", "disable", email)))
        self.assertFalse(self.ok_json(h.run("user", "show", user["id"], "--json"))["is_active"])
        uh = self.home()
        self.fails(uh.run("login", email, "--password-stdin", stdin=PASSWORD + "\n"), 1)
        self.assertTrue(self.ok_json(h.run("user", "enable", email, "--json"))["is_active"])
        self.ok(uh.run("login", email, "--password-stdin", stdin=PASSWORD + "\n"))

        self.assertEqual(self.ok_json(h.run("user", "set-tier", email, "premium", "--json"))
                         ["subscription_tier"], "premium")
        listed = self.ok_json(h.run("user", "list", "--tier", "premium", "--json"))["users"]
        self.assertIn(user["id"], [u["id"] for u in listed])

        # A regular user is refused by the admin routes with the API's message.
        self.fails(uh.run("user", "list"), 1)
        self.fails(h.run("user", "disable", "admin@example.test"), 1, "own account")

        self.assertIn("Deleted", self.ok(h.run("user", "delete", email)))
        self.fails(h.run("user", "show", email), 1, "no user")

    def test_stats_tables_and_json(self):
        h = self.admin_home()
        out = self.ok(h.run("stats"))
        self.assertRegex(out, r"(?m)^Users:\s+\d+ \(\d+ active\)$")
        self.assertRegex(out, r"(?m)^Nodes:\s+\d+ \(\d+ online\)$")
        self.assertIn("Per node\nNODE", out)
        self.assertIn("Per country\nCOUNTRY", out)
        stats = self.ok_json(h.run("stats", "--json"))
        self.assertEqual(set(stats), {"users", "nodes", "sessions", "traffic", "per_node",
                                      "per_country"})

    # ---- sessions and configs ----
    def online_node(self, admin, country):
        name = f"cli-{country.lower()}-{next(_names)}"
        created = self.ok_json(admin.run(
            "node", "create", "--name", name, "--ip", "198.51.100.7", "--country", country,
            "--hostname", f"{name}.vpn.test", "--json"))
        sim = SimNode(self.ctl.port, created["enrollment_token"])
        self.sims.append(sim)
        sim.start_heartbeats()
        wait_for("node online", lambda: self.ok_json(admin.run("node", "show", name, "--json"))
                 ["status"] == "online")
        return name, sim

    def test_config_generate_sessions_and_kill(self):
        admin = self.admin_home()
        country = "".join(next(_countries))
        node_name, sim = self.online_node(admin, country)
        user = self.register()
        self.ok(admin.run("user", "set-tier", user["email"], "enterprise"))
        uh = self.home()
        self.ok(uh.run("login", user["email"], "--password-stdin", stdin=PASSWORD + "\n"))

        # To a file: owner-only, with the locally made private key.
        conf = os.path.join(uh.path, "aureo0.conf")
        out = self.ok(uh.run("config", "generate", "--country", country, "-o", conf))
        self.assertIn(f"on node {node_name}", out)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o600)
        with open(conf) as f:
            text = f.read()
        private = re.search(r"(?m)^PrivateKey = (\S+)$", text).group(1)
        public = subprocess.run(["wg", "pubkey"], input=private + "\n", capture_output=True,
                                text=True, check=True).stdout.strip()
        [session] = self.ok_json(uh.run("session", "list", "--json"))["sessions"]
        self.assertEqual(session["client_public_key"], public)
        self.assertEqual(sim.desired_state()["peers"][0]["public_key"], public)
        strip = subprocess.run(["wg-quick", "strip", conf], capture_output=True, text=True)
        self.assertEqual(strip.returncode, 0, strip.stderr)
        self.assertIn("PrivateKey = " + private, strip.stdout)

        # Sessions: the user's own table, and the admin's filtered view.
        mine = self.ok(uh.run("session", "list"))
        self.assertRegex(mine.splitlines()[0], r"^ID\s+STATUS\s+PROTOCOL\s+NODE\s+TUNNEL IP")
        self.assertRegex(mine, rf"{session['id']}\s+pending\s+wireguard\s+{node_name}\s+10\.8\.")
        every = self.ok(admin.run("session", "list", "--user", user["email"], "--status", "active"))
        self.assertRegex(every, rf"{session['id']}\s+{re.escape(user['email'])}\s+pending")
        by_node = self.ok_json(admin.run("session", "list", "--node", node_name, "--json"))
        self.assertEqual([s["id"] for s in by_node["sessions"]], [session["id"]])
        self.fails(uh.run("session", "list", "--user", "x"), 2, "only admins")

        # Kill switch: hooks present, the host-name endpoint pinned to the node's address.
        ks = os.path.join(uh.path, "aureo1.conf")
        self.ok(uh.run("config", "generate", "--node", node_name, "--kill-switch", "-o", ks))
        with open(ks) as f:
            ks_text = f.read()
        self.assertIn("Endpoint = 198.51.100.7:51820", ks_text)
        self.assertRegex(ks_text, r"(?m)^PostUp = nft -f - <<< \$'table inet aureo-wgquick-killswitch")
        self.assertRegex(ks_text, r"(?m)^PreDown = nft 'table inet aureo-wgquick-killswitch")
        strip = subprocess.run(["wg-quick", "strip", ks], capture_output=True, text=True)
        self.assertEqual(strip.returncode, 0, strip.stderr)
        self.assertNotIn("PostUp", strip.stdout)
        hook = re.search(r"(?m)^PostUp = (.*)$", ks_text).group(1).replace("%i", "aureo1")
        check = subprocess.run(["bash", "-c", hook.replace("nft -f -", "nft -c -f -", 1)],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)

        # QR codes: the terminal one is half blocks, the PNG an owner-only PNG.
        png = os.path.join(uh.path, "config.png")
        qr = self.ok(uh.run("config", "generate", "--node", node_name, "--qr", "--qr-png", png))
        blocks = set(" \u2580\u2584\u2588")
        lines = [line for line in qr.splitlines() if line and set(line) <= blocks]
        self.assertIn(f"Wrote {png} (mode 0600).", qr)
        width = len(lines[0])
        self.assertGreaterEqual(width, 25 + 4)
        self.assertEqual(len(lines), (width + 1) // 2)
        self.assertTrue(all(len(line) == width for line in lines))
        self.assertEqual(len(qr.splitlines()), len(lines) + 2, qr)  # + "Wrote ...", "Session ..."
        self.assertEqual(stat.S_IMODE(os.stat(png).st_mode), 0o600)
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # A stock QR reader (Debian zbar-tools) reads the PNG back as a
        # complete wg-quick config for this node.
        decoded = subprocess.run(["zbarimg", "--raw", "-q", png], capture_output=True, text=True)
        self.assertEqual(decoded.returncode, 0, decoded.stderr)
        scanned = decoded.stdout.rstrip("\n")
        self.assertTrue(scanned.startswith("[Interface]\n"), scanned)
        self.assertRegex(scanned, r"(?m)^PrivateKey = [A-Za-z0-9+/]{43}=$")
        self.assertRegex(scanned, r"(?m)^Endpoint = \S+:51820$")
        self.assertIn("[Peer]", scanned)

        # stdout and --json.
        text_out = self.ok(uh.run("config", "generate", "--node", node_name))
        self.assertTrue(text_out.startswith("[Interface]\n"), text_out)
        generated = self.ok_json(uh.run("config", "generate", "--node", node_name, "--json"))
        self.assertIn("PrivateKey = ", generated["config"])
        self.assertEqual(generated["node"]["name"], node_name)

        # This node does not serve OpenVPN: the API's own message, one line.
        self.fails(uh.run("config", "generate", "--protocol", "openvpn", "--node", node_name), 1)
        self.fails(uh.run("config", "generate", "--protocol", "openvpn", "--kill-switch"), 2)

        # Kill: the user ends their own; the admin ends anyone's.
        self.assertIn("ended", self.ok(uh.run("session", "kill", session["id"])))
        other = generated["session"]["id"]
        self.ok(admin.run("session", "kill", other))
        states = {s["id"]: s["status"] for s in
                  self.ok_json(uh.run("session", "list", "--json"))["sessions"]}
        self.assertEqual((states[session["id"]], states[other]), ("disconnected", "disconnected"))
        active = self.ok_json(uh.run("session", "list", "--status", "active", "--json"))["sessions"]
        self.assertNotIn(session["id"], [s["id"] for s in active])


class TokenRefreshTest(CliTestBase):
    """A gateway whose access tokens live 2 s: commands after that refresh."""

    def wait_until_expired(self, access_token):
        # Past exp plus the verifier's clock-skew leeway (crypto/jwt.h: 5 s).
        exp = decode_jwt(access_token)["exp"]
        time.sleep(max(0.0, exp + 6.5 - time.time()))

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GATEWAY, LOOSE_LIMITS, env={"AUREO_AUTH_ACCESS_TTL": "2s"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_expired_access_token_is_refreshed_and_the_rotated_pair_saved(self):
        h = self.admin_home()
        before = h.credentials()
        self.wait_until_expired(before["access_token"])
        status, _, _, _ = self.gw.request("GET", "/api/v1/user/me", token=before["access_token"])
        self.assertEqual(status, 401, "the access token should have expired")
        self.assertEqual(self.ok_json(h.run("whoami", "--json"))["email"], "admin@example.test")
        after = h.credentials()
        self.assertNotEqual(after["access_token"], before["access_token"])
        self.assertNotEqual(after["refresh_token"], before["refresh_token"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(h.config_dir(), "credentials.json"))
                                      .st_mode), 0o600)

    def test_commands_refreshing_at_once_share_one_rotation(self):
        h = self.admin_home()
        before = h.credentials()
        self.wait_until_expired(before["access_token"])
        # Without the lock, two would spend the same refresh token and the
        # server would end the whole login as stolen.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: h.run("whoami", "--json"), range(4)))
        for r in results:
            self.ok(r)
        self.assertNotEqual(h.credentials()["refresh_token"], before["refresh_token"])
        self.ok(h.run("node", "list"))
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/refresh",
                                          {"refresh_token": h.credentials()["refresh_token"]})
        self.assertEqual(status, 200, "the login must have survived the concurrent refreshes")

    def test_a_revoked_login_says_to_log_in_again(self):
        h = self.admin_home()
        refresh = h.credentials()["refresh_token"]
        status, _, _, _ = self.gw.request("POST", "/api/v1/auth/logout", {"refresh_token": refresh},
                                          token=h.credentials()["access_token"])
        self.assertEqual(status, 204)
        self.wait_until_expired(h.credentials()["access_token"])
        self.fails(h.run("whoami"), 1, "run `aureo-vpn login`")


def main():
    global CLI, GATEWAY, CONTROL
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--control", required=True)
    args, rest = parser.parse_known_args()
    CLI, GATEWAY, CONTROL = args.cli, args.gateway, args.control
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
