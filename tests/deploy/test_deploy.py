"""Checks deploy/ against the real binaries and the code.

- systemd units: every ExecStart names one of our binaries with flags its
  --help lists; the hardening each unit promises is there; the example TOML
  files only use keys the binary's schema has, and the gateway/control ones
  really start a server that answers /health.
- Kubernetes: every YAML document parses; container commands, flags,
  environment variable names, Secret keys and ConfigMap TOML keys are real
  settings of the binary they feed; probe paths answer 200 on the real
  binaries started with the ConfigMap's own settings.
- Grafana and Prometheus: the dashboard parses, every metric it and the
  alert rules query is one the code exports, and every dashboard query is
  valid PromQL (promtool checks them as recording rules).

Run: python3 test_deploy.py --bin-dir build/bin --source-dir .
"""
import argparse
import base64
import glob
import json
import os
import re
import shlex
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import tomllib
import unittest
import urllib.request

import yaml

BIN_DIR = SOURCE_DIR = None
BINARIES = ("aureo-gateway", "aureo-control", "aureo-node", "aureo-server")
_help_cache = {}


class Help:
    """What `<binary> --help` says: flags, config keys, environment names."""

    def __init__(self, binary):
        out = subprocess.run([os.path.join(BIN_DIR, binary), "--help"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        self.text = out
        self.flags = set(re.findall(r"(?m)^\s+(--[a-z][a-z0-9-]*)", out)) | {"--config", "--help"}
        self.keys = set(re.findall(r"\[([a-z0-9_.]+)\]", out))
        self.env = set(re.findall(r"\$(AUREO_[A-Z0-9_]+)", out))


def help_of(binary):
    if binary not in _help_cache:
        _help_cache[binary] = Help(binary)
    return _help_cache[binary]


def toml_keys(doc, prefix=""):
    keys = set()
    for k, v in doc.items():
        if isinstance(v, dict):
            keys |= toml_keys(v, prefix + k + ".")
        else:
            keys.add(prefix + k)
    return keys


def parse_unit(path):
    """A systemd unit as {section: [(key, value), ...]} (keys may repeat)."""
    sections, current = {}, None
    with open(path) as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(unit, section, key):
    return [v for k, v in unit.get(section, []) if k == key]


def flags_in(argv):
    return [a.split("=", 1)[0] for a in argv if a.startswith("--")]


def exported_metrics():
    """Metric names the code registers (not tests): name -> is it a histogram."""
    names = {}
    for path in glob.glob(os.path.join(SOURCE_DIR, "src", "**", "*.cc"), recursive=True):
        if path.endswith("_test.cc"):
            continue
        with open(path) as f:
            text = f.read()
        for m in re.finditer(r'(Build(\w+)\(\)\s*\.Name\(|gauge\(\s*\w+,\s*)"(aureo_[a-z0-9_]+)"', text):
            names[m.group(3)] = m.group(2) == "Histogram"
    return names


def metrics_in(expr):
    return set(re.findall(r"\b(aureo_[a-z0-9_]+)", expr))


def base_metric(name, exported):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and exported.get(name[: -len(suffix)]):
            return name[: -len(suffix)]
    return name


class Server:
    """A real aureo-gateway / aureo-control on a free loopback port."""

    def __init__(self, binary, args, env, banner):
        self.dir = tempfile.mkdtemp(prefix="aureo-deploy-test-")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUREO_")}
        full_env.update(env)
        self.proc = subprocess.Popen([os.path.join(BIN_DIR, binary), *args],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=full_env)
        self.url = None
        for line in self.proc.stdout:
            m = re.search(banner + r" (https?://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            self.proc.wait(timeout=30)
            with open(os.path.join(self.dir, "log")) as f:
                raise RuntimeError(f"{binary} did not start: {f.read()[-2000:]}")

    def get(self, path):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(self.url + path, timeout=30, context=ctx) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def self_signed(directory):
    cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


class SystemdUnitsTest(unittest.TestCase):
    def units(self, with_backup=False):
        paths = sorted(glob.glob(os.path.join(SOURCE_DIR, "deploy", "systemd", "*.service")))
        self.assertEqual([os.path.basename(p) for p in paths],
                         sorted([b + ".service" for b in BINARIES] + ["aureo-backup.service"]))
        units = {os.path.basename(p)[: -len(".service")]: parse_unit(p) for p in paths}
        if not with_backup:
            del units["aureo-backup"]
        return units

    def backup_command(self):
        """The aureo-vpn command line inside aureo-backup.service's sh -c."""
        unit = self.units(with_backup=True)["aureo-backup"]
        (exec_start,) = values(unit, "Service", "ExecStart")
        argv = shlex.split(exec_start)
        self.assertEqual(argv[:2], ["/bin/sh", "-c"])
        return unit, argv[2]

    def test_exec_start_runs_our_binary_with_flags_it_has(self):
        for name, unit in self.units().items():
            with self.subTest(unit=name):
                (exec_start,) = values(unit, "Service", "ExecStart")
                argv = exec_start.split()
                self.assertEqual(argv[0], "/usr/local/bin/" + name)
                h = help_of(name)
                for flag in flags_in(argv[1:]):
                    self.assertIn(flag, h.flags, f"{name}: {flag} is not in --help")

    def test_example_settings_use_only_real_keys(self):
        for name, unit in self.units().items():
            argv = values(unit, "Service", "ExecStart")[0].split()
            config = argv[argv.index("--config") + 1]
            local = os.path.join(SOURCE_DIR, "deploy", "systemd", os.path.basename(config))
            with self.subTest(unit=name, config=local):
                with open(local, "rb") as f:
                    keys = toml_keys(tomllib.load(f))
                self.assertTrue(keys)
                self.assertLessEqual(keys, help_of(name).keys)

    def test_backup_unit_runs_admin_backup_create_with_real_flags(self):
        unit, script = self.backup_command()
        inner = shlex.split(script)
        self.assertEqual(inner[:5], ["exec", "/usr/local/bin/aureo-vpn", "admin", "backup", "create"])
        out = subprocess.run([os.path.join(BIN_DIR, "aureo-vpn"), "admin", "backup", "create",
                              "--help"], capture_output=True, text=True, timeout=30, check=True).stdout
        for flag in flags_in(inner[5:]):
            self.assertIn(flag, out)
        timer = parse_unit(os.path.join(SOURCE_DIR, "deploy", "systemd", "aureo-backup.timer"))
        self.assertEqual(values(timer, "Timer", "OnCalendar"), ["hourly"])
        self.assertEqual(values(unit, "Service", "User"), ["aureo"])

    def test_backup_unit_command_writes_a_sound_backup_of_a_running_gateway(self):
        unit, script = self.backup_command()
        d = tempfile.mkdtemp(prefix="aureo-deploy-backup-")
        self.addCleanup(shutil.rmtree, d, True)
        backups = os.path.join(d, "backups")
        os.mkdir(backups)
        db = os.path.join(d, "aureo.db")
        gw = Server("aureo-gateway", ["--data-dir", d, "--listen", "127.0.0.1:0"],
                    {"AUREO_DATABASE_URL": "sqlite:" + db}, "Aureo VPN API:")
        self.addCleanup(gw.close)
        # What systemd runs: %% unescaped, our paths in place of the installed ones.
        def local(text):
            return (text.replace("%%", "%").replace("/usr/local/bin/", BIN_DIR + "/")
                    .replace("/var/lib/aureo-backups", backups))
        env = dict(os.environ, AUREO_DATABASE_URL="sqlite:" + db)
        r = subprocess.run(["/bin/sh", "-c", local(script)], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        # An old backup for the clean-up to remove; the new one stays.
        old = os.path.join(backups, "aureo-20000101T000000Z.backup")
        open(old, "w").close()
        os.utime(old, (946684800, 946684800))
        (post,) = values(unit, "Service", "ExecStartPost")
        subprocess.run(shlex.split(local(post)), check=True, timeout=60)
        files = os.listdir(backups)
        self.assertEqual(len(files), 1, files)
        self.assertRegex(files[0], r"^aureo-\d{8}T\d{6}Z\.backup$")
        conn = sqlite3.connect(os.path.join(backups, files[0]))
        self.addCleanup(conn.close)
        self.assertEqual(conn.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        self.assertEqual(conn.execute("SELECT email FROM users").fetchall(),
                         [("admin@aureo.local",)])

    def test_every_unit_is_hardened(self):
        required = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                    "PrivateTmp": "yes", "RestrictNamespaces": "yes",
                    "SystemCallArchitectures": "native", "MemoryDenyWriteExecute": "yes",
                    "LockPersonality": "yes", "ProtectKernelModules": "yes"}
        for name, unit in self.units(with_backup=True).items():
            with self.subTest(unit=name):
                for key, value in required.items():
                    self.assertEqual(values(unit, "Service", key), [value], key)
                self.assertIn("@system-service", values(unit, "Service", "SystemCallFilter"))
                self.assertTrue(values(unit, "Service", "StateDirectory"))
                self.assertTrue(values(unit, "Service", "DynamicUser") == ["yes"]
                                or values(unit, "Service", "User") == ["aureo"])
                families = values(unit, "Service", "RestrictAddressFamilies")[0].split()
                caps = values(unit, "Service", "CapabilityBoundingSet")
                if name in ("aureo-node", "aureo-server"):
                    # The tunnel, and port 53 for the clients' DNS resolver.
                    self.assertEqual(caps, ["CAP_NET_ADMIN CAP_NET_BIND_SERVICE"])
                    self.assertEqual(values(unit, "Service", "AmbientCapabilities"),
                                     ["CAP_NET_ADMIN CAP_NET_BIND_SERVICE"])
                    self.assertIn("AF_NETLINK", families)
                    self.assertEqual(values(unit, "Service", "DeviceAllow"), ["/dev/net/tun rw"])
                    self.assertEqual(values(unit, "Service", "RuntimeDirectory"), ["wireguard"])
                else:
                    self.assertEqual(caps, [""], "gateway and control need no capabilities")
                    self.assertNotIn("AF_NETLINK", families)
                    self.assertEqual(values(unit, "Service", "ProtectKernelTunables"), ["yes"])
                    self.assertEqual(values(unit, "Service", "PrivateDevices"), ["yes"])

    def test_node_state_directory_is_where_the_node_keeps_its_state(self):
        unit = self.units()["aureo-node"]
        argv = values(unit, "Service", "ExecStart")[0].split()
        state = argv[argv.index("--state-dir") + 1]
        self.assertEqual(state, "/var/lib/" + values(unit, "Service", "StateDirectory")[0])
        self.assertEqual(values(unit, "Service", "StateDirectoryMode"), ["0700"])

    def test_gateway_and_control_start_with_the_example_settings(self):
        d = tempfile.mkdtemp(prefix="aureo-deploy-units-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = self_signed(d)
        db = "sqlite:" + os.path.join(d, "aureo.db")
        gw = Server("aureo-gateway",
                    ["--config", os.path.join(SOURCE_DIR, "deploy/systemd/gateway.toml"),
                     "--data-dir", d, "--listen", "127.0.0.1:0"],
                    {"AUREO_DATABASE_URL": db}, "Aureo VPN API:")
        self.addCleanup(gw.close)
        self.assertEqual(gw.get("/health")[0], 200)
        control = Server("aureo-control",
                         ["--config", os.path.join(SOURCE_DIR, "deploy/systemd/control.toml"),
                          "--data-dir", d, "--listen", "127.0.0.1:0", "--tls-cert", cert,
                          "--tls-key", key],
                         {"AUREO_DATABASE_URL": db}, "Aureo VPN control:")
        self.addCleanup(control.close)
        self.assertTrue(control.url.startswith("https://"))
        self.assertEqual(control.get("/health")[0], 200)


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = {}
        for path in sorted(glob.glob(os.path.join(SOURCE_DIR, "deploy", "kubernetes", "*.yaml"))):
            with open(path) as f:
                cls.docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d]

    def all_docs(self):
        # secret.example.yaml stands for the Secrets created out of band.
        return [d for docs in self.docs.values() for d in docs]

    def find(self, kind, name):
        for d in self.all_docs():
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        self.fail(f"no {kind} {name}")

    def containers(self):
        for d in self.all_docs():
            if d["kind"] in ("Deployment", "DaemonSet"):
                for c in d["spec"]["template"]["spec"]["containers"]:
                    yield d, c
            if d["kind"] == "CronJob":
                for c in d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
                    yield d, c

    def backup_job(self):
        job = self.find("CronJob", "aureo-backup")
        (c,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        self.assertEqual(c["command"][:2], ["/bin/sh", "-c"])
        return c, c["command"][2]

    def test_every_document_is_a_named_object(self):
        self.assertTrue(self.docs)
        for d in self.all_docs():
            self.assertIn("apiVersion", d)
            self.assertIn("kind", d)
            if d["kind"] == "Kustomization":
                continue
            self.assertTrue(d["metadata"]["name"])
            self.assertEqual(d["metadata"]["labels"]["app.kubernetes.io/part-of"], "aureo-vpn")
            if d["kind"] != "Namespace":
                self.assertEqual(d["metadata"]["namespace"], "aureo", d["metadata"]["name"])

    def test_kustomization_lists_every_manifest_but_the_secret_example(self):
        (k,) = self.docs["kustomization.yaml"]
        expected = sorted(set(self.docs) - {"kustomization.yaml", "secret.example.yaml"})
        self.assertEqual(sorted(k["resources"]), expected)

    def test_containers_run_our_binaries_with_real_flags_and_environment(self):
        seen = set()
        for d, c in self.containers():
            binary = os.path.basename(c["command"][0])
            if d["kind"] == "CronJob":
                continue  # a shell script: test_backup_cronjob_* below
            seen.add(binary)
            with self.subTest(workload=d["metadata"]["name"]):
                self.assertIn(binary, BINARIES)
                h = help_of(binary)
                for flag in flags_in(c.get("args", [])):
                    self.assertIn(flag, h.flags)
                for e in c.get("env", []):
                    self.assertIn(e["name"], h.env)
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        self.assertIn(ref["key"], self.find("Secret", ref["name"])["stringData"])
                for source in c.get("envFrom", []):
                    secret = self.find("Secret", source["secretRef"]["name"])
                    for key in secret["stringData"]:
                        self.assertIn(key, h.env, f"Secret key {key}")
        self.assertEqual(seen, {"aureo-gateway", "aureo-control", "aureo-node"})

    def test_backup_cronjob_runs_admin_backup_create_with_real_flags(self):
        c, script = self.backup_job()
        words = shlex.split(script)
        at = words.index("/usr/local/bin/aureo-vpn")
        self.assertEqual(words[at + 1: at + 4], ["admin", "backup", "create"])
        out = subprocess.run([os.path.join(BIN_DIR, "aureo-vpn"), "admin", "backup", "create",
                              "--help"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        end = words.index("&&")
        for flag in flags_in(words[at + 4: end]):
            self.assertIn(flag, out)
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        self.assertIn("/backups", mounts)
        (env,) = c["env"]
        self.assertEqual(env["name"], "AUREO_DATABASE_URL")
        self.assertIn(env["valueFrom"]["secretKeyRef"]["key"],
                      self.find("Secret", "aureo-secrets")["stringData"])

    def test_backup_cronjob_script_backs_up_a_running_gateway_and_prunes(self):
        c, script = self.backup_job()
        d = tempfile.mkdtemp(prefix="aureo-deploy-cron-")
        self.addCleanup(shutil.rmtree, d, True)
        backups = os.path.join(d, "backups")
        os.mkdir(backups)
        old = os.path.join(backups, "aureo-20000101T000000Z.backup")
        open(old, "w").close()
        os.utime(old, (946684800, 946684800))
        db = os.path.join(d, "aureo.db")
        gw = Server("aureo-gateway", ["--data-dir", d, "--listen", "127.0.0.1:0"],
                    {"AUREO_DATABASE_URL": "sqlite:" + db}, "Aureo VPN API:")
        self.addCleanup(gw.close)
        local = script.replace("/usr/local/bin/", BIN_DIR + "/").replace("/backups", backups)
        r = subprocess.run(["/bin/sh", "-c", local], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, AUREO_DATABASE_URL="sqlite:" + db))
        self.assertEqual(r.returncode, 0, r.stderr)
        files = os.listdir(backups)
        self.assertEqual(len(files), 1, files)
        self.assertRegex(files[0], r"^aureo-\d{8}T\d{6}Z\.backup$")
        conn = sqlite3.connect(os.path.join(backups, files[0]))
        self.addCleanup(conn.close)
        self.assertEqual(conn.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        # A failed backup fails the job (and prunes nothing).
        open(old, "w").close()
        os.utime(old, (946684800, 946684800))
        r = subprocess.run(["/bin/sh", "-c", local], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, AUREO_DATABASE_URL="sqlite:" + d + "/none.db"))
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(os.path.exists(old))

    def test_configmap_settings_are_real_keys_of_the_binary_that_reads_them(self):
        cm = self.find("ConfigMap", "aureo-config")
        for file, binary in (("gateway.toml", "aureo-gateway"), ("control.toml", "aureo-control")):
            with self.subTest(file=file):
                keys = toml_keys(tomllib.loads(cm["data"][file]))
                self.assertTrue(keys)
                self.assertLessEqual(keys, help_of(binary).keys)
        # Every file the containers pass with --config is in the ConfigMap
        # (or, for the node, on the host).
        for d, c in self.containers():
            if d["kind"] != "Deployment":
                continue
            args = c.get("args", [])
            self.assertIn(os.path.basename(args[args.index("--config") + 1]), cm["data"])

    def test_deployments_probe_health_and_services_match_ports(self):
        for name in ("aureo-gateway", "aureo-control"):
            with self.subTest(name=name):
                dep = self.find("Deployment", name)
                (c,) = dep["spec"]["template"]["spec"]["containers"]
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                for probe in ("livenessProbe", "readinessProbe"):
                    get = c[probe]["httpGet"]
                    self.assertTrue(get["path"].startswith("/health"))
                    self.assertIn(get["port"], ports)
                svc = self.find("Service", name)
                self.assertEqual(svc["spec"]["selector"],
                                 dep["spec"]["selector"]["matchLabels"])
                for p in svc["spec"]["ports"]:
                    self.assertIn(p["targetPort"], ports)
                labels = dep["spec"]["template"]["metadata"]["labels"]
                self.assertEqual(dep["spec"]["selector"]["matchLabels"],
                                 {k: labels[k] for k in dep["spec"]["selector"]["matchLabels"]})
                sc = c["securityContext"]
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        monitor = self.find("ServiceMonitor", "aureo-vpn")
        monitored = {e["port"] for e in monitor["spec"]["endpoints"]}
        for name in ("aureo-gateway", "aureo-control"):
            svc_ports = {p["name"] for p in self.find("Service", name)["spec"]["ports"]}
            self.assertTrue(svc_ports & monitored, name)

    def test_probe_paths_answer_on_the_binaries_run_with_the_configmap(self):
        cm = self.find("ConfigMap", "aureo-config")
        d = tempfile.mkdtemp(prefix="aureo-deploy-k8s-")
        self.addCleanup(shutil.rmtree, d, True)
        for file in ("gateway.toml", "control.toml"):
            with open(os.path.join(d, file), "w") as f:
                f.write(cm["data"][file])
        cert, key = self_signed(d)
        env = {"AUREO_DATABASE_URL": "sqlite:" + os.path.join(d, "aureo.db"),
               "AUREO_AUTH_JWT_SECRET": "x" * 48,
               # As the Secret gives both Deployments (secret.example.yaml).
               "AUREO_SECRETS_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        gw = Server("aureo-gateway", ["--config", os.path.join(d, "gateway.toml"),
                                      "--listen", "127.0.0.1:0", "--data-dir", d],
                    env, "Aureo VPN API:")
        self.addCleanup(gw.close)
        control = Server("aureo-control", ["--config", os.path.join(d, "control.toml"),
                                           "--listen", "127.0.0.1:0", "--tls-cert", cert,
                                           "--tls-key", key],
                         dict(env, AUREO_CONTROL_INSTANCE_ID="aureo-control-0"),
                         "Aureo VPN control:")
        self.addCleanup(control.close)
        for server, name in ((gw, "aureo-gateway"), (control, "aureo-control")):
            (c,) = self.find("Deployment", name)["spec"]["template"]["spec"]["containers"]
            self.assertEqual(server.url.startswith("https://"),
                             c["livenessProbe"]["httpGet"].get("scheme") == "HTTPS", name)
            for probe in ("livenessProbe", "readinessProbe"):
                status, body = server.get(c[probe]["httpGet"]["path"])
                self.assertEqual(status, 200, (name, probe, body))
            status, body = server.get("/metrics")
            self.assertEqual(status, 200)
            self.assertIn(b"aureo_vpn_http_requests_total", body)


class MonitoringTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exported = exported_metrics()
        with open(os.path.join(SOURCE_DIR, "deploy", "grafana", "aureo-vpn.json")) as f:
            cls.dashboard = json.load(f)
        with open(os.path.join(SOURCE_DIR, "deploy", "prometheus", "alerts.yml")) as f:
            cls.alerts = yaml.safe_load(f)

    def dashboard_exprs(self):
        exprs = []
        for p in self.dashboard["panels"]:
            for t in p.get("targets", []):
                exprs.append(t["expr"])
        for v in self.dashboard["templating"]["list"]:
            if v["type"] == "query":
                exprs.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["definition"]))
        return exprs

    def test_code_exports_the_design_metric_names(self):
        for name in ("aureo_vpn_active_connections", "aureo_vpn_node_load_score",
                     "aureo_vpn_node_cpu_usage", "aureo_vpn_data_transferred_bytes",
                     "aureo_vpn_http_requests_total", "aureo_vpn_http_request_duration_seconds",
                     "aureo_vpn_login_attempts_total", "aureo_vpn_database_queries_total",
                     "aureo_vpn_database_query_duration_seconds"):
            self.assertIn(name, self.exported)

    def test_dashboard_queries_only_exported_metrics(self):
        panels = [p for p in self.dashboard["panels"] if p["type"] != "row"]
        self.assertGreater(len(panels), 10)
        used = set()
        for p in panels:
            self.assertTrue(p["targets"], p["title"])
        for expr in self.dashboard_exprs():
            names = metrics_in(expr)
            self.assertTrue(names, expr)
            for n in names:
                self.assertIn(base_metric(n, self.exported), self.exported, expr)
                used.add(base_metric(n, self.exported))
        # Every metric the code exports is on the dashboard somewhere.
        self.assertEqual(used, set(self.exported))

    def test_alert_rules_query_only_exported_metrics(self):
        for group in self.alerts["groups"]:
            for rule in group["rules"]:
                for n in metrics_in(rule["expr"]):
                    self.assertIn(base_metric(n, self.exported), self.exported, rule["alert"])

    def test_dashboard_queries_are_valid_promql(self):
        rules = []
        for i, expr in enumerate(self.dashboard_exprs()):
            expr = expr.replace("$__rate_interval", "5m").replace("$node", ".*")
            rules.append({"record": f"aureo:dashboard_query_{i}", "expr": expr})
        d = tempfile.mkdtemp(prefix="aureo-deploy-promql-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "dashboard-rules.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    args, rest = parser.parse_known_args()
    BIN_DIR = os.path.abspath(args.bin_dir)
    SOURCE_DIR = os.path.abspath(args.source_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
