#!/usr/bin/env python3
"""bench/connect: how long a connect takes, and the control plane under load.

Part 1, connect time: the e2e topology (tests/e2e) with aureo-gateway,
aureo-control and aureo-node as separate processes and stock wireguard-go as
the client. Each round starts a TCP probe in the client namespace first (it
retries every 10 ms and fails at once while there is no route), then times
POST /api/v1/sessions -> client configured -> first TCP connection to the
"internet" namespace through the tunnel; then deletes the session. Median of
--rounds (20).

Part 2, control-plane scale: aureo-gateway + aureo-control on one SQLite file,
--nodes (1,000) simulated nodes enrolled and heartbeating every
--heartbeat seconds, --sessions (10,000) sessions created through the API by
--creators threads, while one thread measures GET /api/v1/nodes/best and
GET /api/v1/user/sessions latency. Prints p50/p99 of each.

Not a test: it asserts nothing about speed. Needs root (namespaces).
"""
import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))

import test_e2e  # noqa: E402
from control import Control, SimNode, http_request  # noqa: E402
from gateway import Gateway  # noqa: E402
from test_api import LOOSE_LIMITS  # noqa: E402


class Cleanups:
    """What Lab expects from a unittest.TestCase: addCleanup, run in reverse."""

    def __init__(self):
        self.callbacks = []

    def addCleanup(self, fn, *args):  # noqa: N802 (unittest's name)
        self.callbacks.append((fn, args))

    def run(self):
        while self.callbacks:
            fn, args = self.callbacks.pop()
            try:
                fn(*args)
            except Exception as e:  # keep cleaning up
                print(f"cleanup failed: {e}", file=sys.stderr)


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def connect_time(rounds):
    owner = Cleanups()
    try:
        lab = test_e2e.Lab(owner, prefix="bc")
        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "bench-node", "public_ip": test_e2e.NODE_EDGE_IP, "country": "NL"})
        assert status == 201, node
        lab.start_node(node["enrollment_token"])
        test_e2e.wait_for("node online", lambda: lab.api(
            "GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "bench@example.test", "username": "bench",
            "password": "correct horse battery"}, token="-")
        assert status == 201, reg
        user = reg["access_token"]
        lab.start_client()
        totals, answers, ready = [], [], 0
        for i in range(rounds):
            probe = subprocess.Popen(
                ["ip", "netns", "exec", lab.ns_client, sys.executable, "-c", test_e2e.PROBE,
                 test_e2e.INTERNET_IP, str(test_e2e.HTTP_PORT), "30"],
                stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)  # the probe is up and failing fast (no route yet)
            started = time.time()
            status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "wireguard"},
                                      token=user)
            answered = time.time()
            assert status == 201, created
            ready += bool(created.get("peer_ready"))
            lab.configure_client(created["config"])
            out, _ = probe.communicate(timeout=60)
            assert probe.returncode == 0, "no connection through the tunnel"
            first = float(out.strip())
            totals.append((first - started) * 1000)
            answers.append((answered - started) * 1000)
            print(f"  round {i + 1:2d}: {totals[-1]:6.0f} ms (API answered after "
                  f"{answers[-1]:.0f} ms)", file=sys.stderr)
            status, _ = lab.api("DELETE", f"/api/v1/sessions/{created['session']['id']}",
                                token=user)
            assert status in (200, 204), status
            # Back to no route, so the next probe fails fast until configured.
            test_e2e.sh("ip", "route", "del", "default", ns=lab.ns_client, check=False)
            test_e2e.sh("ip", "link", "set", lab.client_if, "down", ns=lab.ns_client)
        return totals, answers, ready
    finally:
        owner.run()


def control_scale(nodes, sessions, creators, heartbeat):
    gw = Gateway(test_e2e.GATEWAY, LOOSE_LIMITS + "[sessions]\nlimit_free = 100\n")
    gw.start()
    ctl = None
    stop = threading.Event()
    try:
        ctl = Control(test_e2e.CONTROL, gw.db_path, gw.dir, name="bench-control",
                      extra_config="")
        # Production cadences, except the heartbeat the caller chose.
        with open(ctl.config_path, "w") as f:
            # The gateway's data_dir: both seal secrets with its master key.
            f.write(f'data_dir = "{gw.dir}"\n'
                    f'[database]\nurl = "sqlite:{gw.db_path}"\n'
                    f'[nodes]\nheartbeat_interval = "{heartbeat}s"\n')
        ctl.start()
        admin = gw.admin_token()
        t0 = time.time()

        def enroll(i):
            status, node, _, _ = gw.request("POST", "/api/v1/admin/nodes", {
                "name": f"sim-{i}", "public_ip": f"10.{i // 250}.{i % 250}.1",
                "country": "DE", "max_connections": 1000}, token=admin)
            assert status == 201, node
            return SimNode(ctl.port, node["enrollment_token"])

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            sims = list(pool.map(enroll, range(nodes)))
        print(f"  {nodes} nodes enrolled in {time.time() - t0:.1f} s", file=sys.stderr)

        beats = [0]

        def heartbeats(group):
            # Each node heartbeats once per interval, spread over it.
            while not stop.is_set():
                started = time.monotonic()
                for sim in group:
                    if stop.is_set():
                        return
                    sim.heartbeat()
                    beats[0] += 1
                stop.wait(max(0.0, heartbeat - (time.monotonic() - started)))

        groups = [sims[i::8] for i in range(8)]
        beaters = [threading.Thread(target=heartbeats, args=(g,), daemon=True) for g in groups]
        for t in beaters:
            t.start()
        time.sleep(heartbeat + 1)  # every node online

        # Users with up to 100 devices each, as a service with many accounts has.
        def register(i):
            status, reg, _, _ = gw.request("POST", "/api/v1/auth/register", {
                "email": f"scale{i}@example.test", "username": f"scale{i}",
                "password": "correct horse battery"})
            assert status == 201, reg
            return reg["access_token"]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            tokens = list(pool.map(register, range(max(1, sessions // 100))))
        token = tokens[0]

        probe_lat = {"best": [], "list": []}

        def prober():
            while not stop.is_set():
                for name, path in (("best", "/api/v1/nodes/best?country=DE"),
                                   ("list", "/api/v1/user/sessions?limit=50")):
                    t = time.monotonic()
                    status, _ = http_request(gw.port, "GET", path, token=token)
                    probe_lat[name].append((time.monotonic() - t) * 1000)
                    assert status == 200, status
                time.sleep(0.01)

        probe_thread = threading.Thread(target=prober, daemon=True)
        probe_thread.start()
        create_lat, failures = [], [0]
        lock = threading.Lock()

        def create(i):
            t = time.monotonic()
            status, body = http_request(gw.port, "POST", "/api/v1/sessions",
                                        {"protocol": "wireguard"}, token=tokens[i % len(tokens)])
            ms = (time.monotonic() - t) * 1000
            with lock:
                if status == 201:
                    create_lat.append(ms)
                else:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"  create failed: {status} {body}", file=sys.stderr)

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(creators) as pool:
            list(pool.map(create, range(sessions)))
        elapsed = time.time() - t0
        stop.set()
        probe_thread.join()
        status, stats, _, _ = gw.request("GET", "/api/v1/admin/stats", token=admin)
        return {"elapsed": elapsed, "created": len(create_lat), "failed": failures[0],
                "create": create_lat, "best": probe_lat["best"], "list": probe_lat["list"],
                "heartbeats": beats[0], "stats": stats if status == 200 else None}
    finally:
        stop.set()
        if ctl:
            ctl.kill()
        gw.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--creators", type=int, default=8)
    parser.add_argument("--heartbeat", type=int, default=30)
    parser.add_argument("--skip-connect", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    test_e2e.NODE = os.path.join(args.bin, "aureo-node")
    test_e2e.GATEWAY = os.path.join(args.bin, "aureo-gateway")
    test_e2e.CONTROL = os.path.join(args.bin, "aureo-control")

    if not args.skip_connect:
        print(f"connect time, {args.rounds} rounds (gateway, control, node: separate processes)",
              file=sys.stderr)
        totals, answers, ready = connect_time(args.rounds)
        print(f"connect: POST /api/v1/sessions -> first TCP connection through the tunnel: "
              f"median {statistics.median(totals):.0f} ms, min {min(totals):.0f} ms, "
              f"max {max(totals):.0f} ms (API answer median {statistics.median(answers):.0f} ms; "
              f"peer_ready in {ready}/{len(totals)}; target < 200 ms)")
    if not args.skip_scale:
        print(f"control plane: {args.nodes} nodes heartbeating every {args.heartbeat:g} s, "
              f"{args.sessions} sessions", file=sys.stderr)
        r = control_scale(args.nodes, args.sessions, args.creators, args.heartbeat)
        print(f"scale: {r['created']} sessions created in {r['elapsed']:.1f} s "
              f"({r['created'] / r['elapsed']:.0f}/s, {r['failed']} failed) while "
              f"{args.nodes} nodes sent {r['heartbeats']} heartbeats")
        for name, lat in (("POST /api/v1/sessions", r["create"]),
                          ("GET /api/v1/nodes/best", r["best"]),
                          ("GET /api/v1/user/sessions", r["list"])):
            if lat:
                print(f"  {name}: p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms "
                      f"({len(lat)} requests)")


if __name__ == "__main__":
    main()
