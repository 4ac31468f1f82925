#!/usr/bin/env python3
"""The node's DNS resolver for clients, end to end in network namespaces
(the topology of test_e2e.py, every name prefixed "dns"):

    internet ns                node ns                      client ns
    dns_server.py :53   <-->   aureo-node (resolver on      wireguard-go + wg
    192.0.2.1                  10.8.0.1:53, tunnel only)    198.51.100.2

The node's dns_servers are a dead address first and the test server second,
so each answer also shows the failover. Then an admin changes them, and the
running node's resolver follows. The client resolves a test name at
the tunnel gateway address over UDP and TCP; the same query sent outside the
tunnel (from the client namespace's physical address) is refused.

Needs root. Run:
  test_dns.py --node build/bin/aureo-node --gateway build/bin/aureo-gateway \
              --control build/bin/aureo-control --server build/bin/aureo-server
"""
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_e2e  # noqa: E402
from test_e2e import (CLIENT_IP, INTERNET_IP, NODE_EDGE_IP, NODE_UPLINK_IP, Lab, metric,  # noqa: E402
                      sh, wait_for)

NAME, ADDRESS = "resolver.aureo.test", "203.0.113.53"
DEAD_UPSTREAM = "192.0.2.99"  # on the uplink subnet, nobody there
SECOND_UPSTREAM, SECOND_ADDRESS = "192.0.2.3", "203.0.113.54"  # answers NAME differently
GATEWAY_V4 = "10.8.0.1"


class NodeResolverTest(unittest.TestCase):
    def query(self, lab, transport, server, name=NAME, timeout=15):
        r = sh(sys.executable, os.path.join(HERE, "dns_query.py"), transport, server, name, timeout,
               ns=lab.ns_client, check=False, timeout=timeout + 30)
        return r.returncode, r.stdout.strip()

    def test_clients_resolve_through_the_tunnel_and_nobody_else_can(self):
        lab = Lab(self, prefix="dns")
        dns_log = os.path.join(lab.tmp, "dns.log")
        open(dns_log, "w").close()
        server = lab.spawn(["ip", "netns", "exec", lab.ns_inet, sys.executable, "-u",
                            os.path.join(HERE, "dns_server.py"), INTERNET_IP, "53", dns_log,
                            f"{NAME}={ADDRESS}"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(server.stdout.readline().strip(), "ready")

        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "dns-node", "public_ip": NODE_EDGE_IP, "country": "NL",
            "dns_servers": f"{DEAD_UPSTREAM},{INTERNET_IP}"})
        self.assertEqual(status, 201, node)
        lab.start_node(node["enrollment_token"])
        wait_for("node online",
                 lambda: lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "dns@example.test", "username": "dnsuser",
            "password": "correct horse battery"}, token="-")
        self.assertEqual(status, 201, reg)
        lab.start_client()
        status, created = lab.api("POST", "/api/v1/sessions",
                                  {"protocol": "wireguard", "node_id": node["id"]},
                                  token=reg["access_token"])
        self.assertEqual(status, 201, created)
        dns_lines = [line for line in created["config"].splitlines() if line.startswith("DNS =")]
        self.assertEqual(dns_lines, [f"DNS = {GATEWAY_V4}"], created["config"])
        lab.configure_client(created["config"])
        self.assertIsNotNone(lab.probe(timeout=30), "no connection through the tunnel")

        # Through the tunnel, UDP and TCP: the answer comes from the test
        # server, reached by the node itself after the dead upstream timed out.
        self.assertEqual(self.query(lab, "udp", GATEWAY_V4), (0, ADDRESS))
        self.assertEqual(self.query(lab, "tcp", GATEWAY_V4), (0, ADDRESS))
        self.assertEqual(self.query(lab, "udp", GATEWAY_V4, "missing.aureo.test"), (0, "rcode 3"))
        with open(dns_log) as f:
            seen = [line.split() for line in f]
        self.assertIn(["udp", NODE_UPLINK_IP, NAME], seen)
        self.assertIn(["tcp", NODE_UPLINK_IP, NAME], seen)

        # Outside the tunnel: the client namespace's physical address asks the
        # gateway address (routed over the LAN to the node) and the node's
        # LAN address. Refused (port unreachable / reset), never answered.
        sh("ip", "route", "add", f"{GATEWAY_V4}/32", "via", NODE_EDGE_IP, "dev", "lan0",
           "src", CLIENT_IP, ns=lab.ns_client)
        for server_ip in (GATEWAY_V4, NODE_EDGE_IP):
            for transport in ("udp", "tcp"):
                code, out = self.query(lab, transport, server_ip, timeout=5)
                self.assertIn(code, (2, 3), f"{transport} {server_ip} answered: {out}")
        sh("ip", "route", "del", f"{GATEWAY_V4}/32", ns=lab.ns_client)
        with open(dns_log) as f:
            self.assertEqual(len(f.readlines()), len(seen), "an outside query reached upstream")

        # The node's /metrics counts it all (it is sampled every second, so
        # wait for a sample after the last answer) and passes promtool.
        expected = {'aureo_vpn_dns_queries_total{transport="udp"}': 2,
                    'aureo_vpn_dns_queries_total{transport="tcp"}': 1,
                    'aureo_vpn_dns_answers_total{result="relayed"}': 3,
                    'aureo_vpn_dns_answers_total{result="servfail"}': 0,
                    "aureo_vpn_dns_upstream_failures_total": 3,
                    'aureo_vpn_dns_dropped_total{reason="malformed"}': 0}

        def counted():
            text = lab.node_metrics()
            if text and all(metric(text, k) == v for k, v in expected.items()):
                return text
            return None
        text = wait_for("resolver metrics " + str(expected), counted, timeout=30)
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # An admin points the node at another upstream: the running node's
        # resolver follows within a heartbeat, no re-enrollment or restart.
        sh("ip", "addr", "add", SECOND_UPSTREAM + "/24", "dev", "wan0", ns=lab.ns_inet)
        second = lab.spawn(["ip", "netns", "exec", lab.ns_inet, sys.executable, "-u",
                            os.path.join(HERE, "dns_server.py"), SECOND_UPSTREAM, "53",
                            os.path.join(lab.tmp, "dns2.log"), f"{NAME}={SECOND_ADDRESS}"],
                           stdout=subprocess.PIPE, text=True)
        self.assertEqual(second.stdout.readline().strip(), "ready")
        status, patched = lab.api("PATCH", f"/api/v1/admin/nodes/{node['id']}",
                                  {"dns_servers": SECOND_UPSTREAM})
        self.assertEqual(status, 200, patched)
        wait_for("the node's resolver to use the new upstream",
                 lambda: self.query(lab, "udp", GATEWAY_V4, timeout=3) == (0, SECOND_ADDRESS),
                 timeout=30)
        self.assertIn("upstream DNS servers changed", lab.tail(lab.node_log, n=10**7))

        # A clean stop takes the resolver down with the node.
        self.assertEqual(lab.stop(lab.node), 0, lab.tail(lab.node_log))
        self.assertNotIn(":53 ", sh("ss", "-lntu", ns=lab.ns_node).stdout)


if __name__ == "__main__":
    test_e2e.run_tests("node", "gateway", "control", "server")
