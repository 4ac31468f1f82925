"""Starts a real aureo-gateway on a free port with a fresh database, for tests."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

JWT_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   capture_output=True)


class Gateway:
    def __init__(self, binary, extra_config="", data_dir=None, env=None, peer_ready_timeout="0s",
                 database_url=None, name="gateway"):
        """peer_ready_timeout: how long POST /api/v1/sessions waits for the node
        to apply the new peer. Simulated nodes never apply peers, so tests
        default to not waiting; tests with a real node pass a real timeout.
        database_url: any database.url (e.g. postgres://...); default a
        SQLite file in the data folder, or with AUREO_TEST_DATABASE=postgres
        a fresh schema in the server AUREO_TEST_POSTGRES_URL names (ctest's
        `postgres` fixture), dropped by close(); db_path is None then.
        name: of its config and log files, so several gateways can share one
        folder."""
        self.binary = binary
        self.name = name
        self.owns_dir = data_dir is None
        self.dir = data_dir or tempfile.mkdtemp(prefix="aureo-api-test-")
        self.db_path = os.path.join(self.dir, "aureo.db")
        self.pg_base = None
        self.pg_schema = None
        if database_url is None and os.environ.get("AUREO_TEST_DATABASE") == "postgres":
            self.pg_base = os.environ["AUREO_TEST_POSTGRES_URL"]
            self.pg_schema = "api_" + uuid.uuid4().hex[:12]
            psql(self.pg_base, f"CREATE SCHEMA {self.pg_schema}")
            sep = "&" if "?" in self.pg_base else "?"
            database_url = f"{self.pg_base}{sep}options=-csearch_path%3D{self.pg_schema}"
            self.db_path = None
        self.database_url = database_url or f"sqlite:{self.db_path}"
        self.config_path = os.path.join(self.dir, f"{name}.toml")
        self.log_path = os.path.join(self.dir, f"{name}.log")
        with open(self.config_path, "w") as f:
            f.write(
                f'data_dir = "{self.dir}"\n'
                f'[database]\nurl = "{self.database_url}"\n'
                f'[auth]\njwt_secret = "{JWT_SECRET}"\n'
                f'[admin]\nemail = "admin@example.test"\n'
                + extra_config
            )
        self.env = dict(os.environ, AUREO_SESSIONS_PEER_READY_TIMEOUT=peer_ready_timeout,
                        **(env or {}))
        self.proc = None
        self.admin_password = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config_path, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"),
            text=True, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("gateway exited early: " + self.log_tail())
            m = re.search(r"password: (\S+)", line)
            if m:
                self.admin_password = m.group(1)
            m = re.search(r"Aureo VPN API: http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return self
        raise RuntimeError("gateway did not report its URL")

    def log_tail(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def kill(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def close(self):
        self.kill()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.pg_schema:
                psql(self.pg_base, f"DROP SCHEMA {self.pg_schema} CASCADE")

    # ---- HTTP helpers ----
    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        parsed = None
        if payload and resp.getheader("Content-Type", "").startswith("application/json"):
            parsed = json.loads(payload)
        return resp.status, parsed, resp, payload

    def login(self, email, password):
        status, body, _, _ = self.request("POST", "/api/v1/auth/login",
                                          {"email": email, "password": password})
        assert status == 200, (status, body)
        return body

    def admin_token(self):
        return self.login("admin@example.test", self.admin_password)["access_token"]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, secret=JWT_SECRET, header=None):
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def decode_jwt(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
