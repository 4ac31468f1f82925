#!/usr/bin/env python3
"""aureo-node with exactly what deploy/systemd/aureo-node.service grants it:
CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, nothing else (bounding set,
inheritable set cleared, no_new_privs). It must still enroll, create its
interface, turn forwarding on, start its DNS resolver on port 53, NAT a
client's traffic out, and on SIGTERM restore the sysctl and remove its NAT
table.

Uses the network-namespace lab of tests/e2e (names prefixed "op" for this
suite). Needs root. Run:
  test_node_capabilities.py --node build/bin/aureo-node --gateway build/bin/aureo-gateway \
                            --control build/bin/aureo-control
"""
import os
import signal
import stat
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "api"))

import test_e2e  # noqa: E402
from test_e2e import Lab, sh, wait_for  # noqa: E402

CAP_NET_ADMIN = 12
CAP_NET_BIND_SERVICE = 10


def capability_sets(pid):
    """CapEff, CapPrm, CapBnd and CapInh of a process, as integers."""
    caps = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "NoNewPrivs"):
                caps[key] = int(value.strip(), 16)
    return caps


class NodeCapabilitiesTest(unittest.TestCase):
    def test_node_works_with_only_cap_net_admin(self):
        real_node = test_e2e.NODE
        # What the unit does to the process, as setpriv spells it.
        wrapper_dir = tempfile.mkdtemp(prefix="aureo-ops-caps-")
        wrapper = os.path.join(wrapper_dir, "aureo-node")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --bounding-set=-all,+net_admin,+net_bind_service "
                    "--inh-caps=-all "
                    f"--no-new-privs {real_node} \"$@\"\n")
        os.chmod(wrapper, stat.S_IRWXU)
        test_e2e.NODE = wrapper
        self.addCleanup(setattr, test_e2e, "NODE", real_node)
        self.addCleanup(lambda: (os.unlink(wrapper), os.rmdir(wrapper_dir)))

        lab = Lab(self, prefix="op")
        forward_before = sh("cat", "/proc/sys/net/ipv4/ip_forward", ns=lab.ns_node).stdout.strip()
        self.assertEqual(forward_before, "0")
        lab.start_control()
        status, node = lab.api("POST", "/api/v1/admin/nodes", {
            "name": "caps-node", "public_ip": test_e2e.NODE_EDGE_IP, "country": "NL"})
        self.assertEqual(status, 201, node)
        lab.start_node(node["enrollment_token"])

        caps = capability_sets(lab.node.pid)
        granted = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_BIND_SERVICE)
        self.assertEqual(caps["CapEff"], granted, caps)
        self.assertEqual(caps["CapPrm"], granted, caps)
        self.assertEqual(caps["CapBnd"], granted, caps)
        self.assertEqual(caps["NoNewPrivs"], 1, caps)

        wait_for("node online",
                 lambda: lab.api("GET", f"/api/v1/nodes/{node['id']}")[1]["status"] == "online")
        self.assertEqual(sh("cat", "/proc/sys/net/ipv4/ip_forward", ns=lab.ns_node).stdout.strip(),
                         "1")
        self.assertEqual(sh("nft", "list", "table", "inet", "aureo-nat", ns=lab.ns_node,
                            check=False).returncode, 0)
        log = lab.tail(lab.node_log, 100000)
        self.assertIn("DNS resolver up", log)
        self.assertNotIn("no DNS resolver for clients", log)

        status, reg = lab.api("POST", "/api/v1/auth/register", {
            "email": "caps@example.test", "username": "caps", "password": "correct horse battery"},
            token="-")
        self.assertEqual(status, 201, reg)
        lab.start_client()
        status, created = lab.api("POST", "/api/v1/sessions", {"protocol": "wireguard"},
                                  token=reg["access_token"])
        self.assertEqual(status, 201, created)
        lab.configure_client(created["config"])
        self.assertIsNotNone(lab.probe(timeout=30), "no connection through the tunnel")
        seen_before = len(lab.http_clients())
        self.assertEqual(lab.fetch(), test_e2e.PAGE)
        self.assertEqual(set(lab.http_clients()[seen_before:]), {test_e2e.NODE_UPLINK_IP})

        # SIGTERM: drain, then the sysctl and the NAT table are put back.
        self.assertEqual(lab.stop(lab.node, signal.SIGTERM), 0, lab.tail(lab.node_log))
        self.assertEqual(sh("cat", "/proc/sys/net/ipv4/ip_forward", ns=lab.ns_node).stdout.strip(),
                         "0")
        self.assertNotEqual(sh("nft", "list", "table", "inet", "aureo-nat", ns=lab.ns_node,
                               check=False).returncode, 0)


if __name__ == "__main__":
    test_e2e.run_tests("node", "gateway", "control")
