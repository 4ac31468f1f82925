#!/usr/bin/env python3
"""aureo-wg against the real wireguard-go + wg(8), in network namespaces.

Each test builds two namespaces joined by a veth pair: "a" runs aureo-wg,
"b" runs wireguard-go, both configured with the stock `wg`. Everything a test
creates (namespaces, processes, socket files) is removed in its cleanups,
which run whether it passed or failed; processes are stopped by PID.

Needs root (CAP_NET_ADMIN, /var/run/wireguard). Run:
  test_interop.py --binary build/bin/aureo-wg [unittest args]
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None  # set from --binary
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from testutil import sh  # noqa: E402
import testutil  # noqa: E402
STREAM = os.path.join(HERE, "tcp_stream.py")
SOCKET_DIR = "/var/run/wireguard"

PORT_A = 51820
PORT_B = 51821
MB = 1 << 20


def wait_for(predicate, what, timeout=30.0, interval=0.05):
    return testutil.wait_for(what, predicate, timeout, interval)


# ---- pcap (what tcpdump -w writes), just enough for UDP over Ethernet.

def read_udp_pcap(path):
    """Returns [(src_ip, src_port, dst_ip, dst_port, payload)] of UDP packets."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return out
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if linktype == 1:  # Ethernet
            if len(frame) < 14:
                continue
            ethertype = struct.unpack("!H", frame[12:14])[0]
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked
            ethertype = struct.unpack("!H", frame[14:16])[0]
            ip = frame[16:]
        else:
            continue
        if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            ihl = (ip[0] & 0xF) * 4
            src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            udp = ip[ihl:]
        elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
            udp = ip[40:]
        else:
            continue
        if len(udp) < 8:
            continue
        sport, dport, length = struct.unpack("!HHH", udp[:6])
        out.append((src, sport, dst, dport, udp[8:length]))
    return out


class Capture:
    """tcpdump in a namespace, writing a pcap until stopped."""

    def __init__(self, lab, ns, dev, bpf):
        self.path = os.path.join(lab.tmp, f"cap{len(lab.procs)}.pcap")
        self.proc = lab.spawn(["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "--immediate-mode", "-U", "-n", "-w",
                               self.path, bpf], stderr=subprocess.PIPE)
        line = self.proc.stderr.readline().decode()
        if "listening on" not in line:
            raise AssertionError(f"tcpdump did not start: {line}")

    def packets(self):
        return read_udp_pcap(self.path) if os.path.exists(self.path) else []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=10)
        return self.packets()


class Lab:
    """Namespaces a (aureo-wg) and b (wireguard-go) on a veth, plus helpers."""

    counter = 0

    def __init__(self, test, outer_v6=False):
        Lab.counter += 1
        tag = f"{os.getpid() % 10000}{Lab.counter}"
        self.test = test
        self.procs = []
        self.namespaces = []
        self.tmp_dir = tempfile.TemporaryDirectory(prefix="wg_interop_")
        self.tmp = self.tmp_dir.name
        test.addCleanup(self.close)

        self.ns_a, self.ns_b = f"awgi{tag}a", f"awgi{tag}b"
        self.if_a, self.if_b = f"aw{tag}a", f"aw{tag}b"
        for ns in (self.ns_a, self.ns_b):
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", "vA", "netns", self.ns_a, "type", "veth", "peer", "name", "vB",
           "netns", self.ns_b)
        self.outer_v6 = outer_v6
        if outer_v6:
            self.outer_a, self.outer_b = "fd00:77::1", "fd00:77::2"
            sh("ip", "addr", "add", "fd00:77::1/64", "dev", "vA", "nodad", ns=self.ns_a)
            sh("ip", "addr", "add", "fd00:77::2/64", "dev", "vB", "nodad", ns=self.ns_b)
        else:
            self.outer_a, self.outer_b = "192.168.77.1", "192.168.77.2"
            sh("ip", "addr", "add", "192.168.77.1/24", "dev", "vA", ns=self.ns_a)
            sh("ip", "addr", "add", "192.168.77.2/24", "dev", "vB", ns=self.ns_b)
        sh("ip", "link", "set", "vA", "up", ns=self.ns_a)
        sh("ip", "link", "set", "vB", "up", ns=self.ns_b)

        self.key_a, self.key_b = self.genkey("a"), self.genkey("b")
        self.pub_a, self.pub_b = self.pubkey(self.key_a), self.pubkey(self.key_b)
        self.aureo = None
        self.aureo_log = os.path.join(self.tmp, "aureo.log")

    # -- lifecycle -------------------------------------------------------------

    def spawn(self, cmd, **kw):
        proc = subprocess.Popen(cmd, **kw)
        self.procs.append(proc)
        return proc

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.kill(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for name in (self.if_a, self.if_b):
            path = os.path.join(SOCKET_DIR, name + ".sock")
            if os.path.exists(path):
                os.unlink(path)
        self.tmp_dir.cleanup()

    def genkey(self, name):
        path = os.path.join(self.tmp, f"{name}.key")
        with open(path, "w") as f:
            f.write(sh("wg", "genkey").stdout)
        return path

    def pubkey(self, key_path):
        with open(key_path) as f:
            return sh("wg", "pubkey", input_text=f.read()).stdout.strip()

    def start_aureo(self, ns=None, ifname=None):
        ns, ifname = ns or self.ns_a, ifname or self.if_a
        log = open(self.aureo_log, "ab")
        env = dict(os.environ, LOG_LEVEL="debug")
        self.aureo = self.spawn(["ip", "netns", "exec", ns, BINARY, "-f", ifname], stderr=log, env=env)
        log.close()
        self.wait_socket(ifname, self.aureo)
        return self.aureo

    def start_wireguard_go(self):
        env = dict(os.environ, LOG_LEVEL="error")
        proc = self.spawn(["ip", "netns", "exec", self.ns_b, "wireguard-go", "-f", self.if_b],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.wait_socket(self.if_b, proc)
        return proc

    def wait_socket(self, ifname, proc):
        path = os.path.join(SOCKET_DIR, ifname + ".sock")

        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"{ifname}: process exited with {proc.returncode}")
            return os.path.exists(path)

        wait_for(ready, f"{path}")

    # -- configuration ---------------------------------------------------------

    def endpoint(self, addr, port):
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"

    def setup(self, a_knows_b=True, b_knows_a=True, psk_a=None, psk_b=None, keepalive_a=None):
        """Starts both daemons and configures them with wg(8)."""
        self.start_aureo()
        self.start_wireguard_go()
        cmd = ["wg", "set", self.if_a, "private-key", self.key_a, "listen-port", PORT_A, "peer",
               self.pub_b, "allowed-ips", "10.77.0.2/32,fd77::2/128"]
        if a_knows_b:
            cmd += ["endpoint", self.endpoint(self.outer_b, PORT_B)]
        if psk_a:
            cmd += ["preshared-key", psk_a]
        if keepalive_a:
            cmd += ["persistent-keepalive", keepalive_a]
        sh(*cmd, ns=self.ns_a)
        cmd = ["wg", "set", self.if_b, "private-key", self.key_b, "listen-port", PORT_B, "peer",
               self.pub_a, "allowed-ips", "10.77.0.1/32,fd77::1/128"]
        if b_knows_a:
            cmd += ["endpoint", self.endpoint(self.outer_a, PORT_A)]
        if psk_b:
            cmd += ["preshared-key", psk_b]
        sh(*cmd, ns=self.ns_b)
        self.address(self.ns_a, self.if_a, "10.77.0.1", "fd77::1")
        self.address(self.ns_b, self.if_b, "10.77.0.2", "fd77::2")

    def address(self, ns, ifname, v4, v6):
        sh("ip", "addr", "add", v4 + "/24", "dev", ifname, ns=ns)
        sh("ip", "addr", "add", v6 + "/64", "dev", ifname, "nodad", ns=ns)
        sh("ip", "link", "set", ifname, "up", ns=ns)

    # -- observation -----------------------------------------------------------

    def ping(self, ns, addr, count=3):
        flag = "-6" if ":" in addr else "-4"
        return sh("ping", flag, "-c", count, "-i", "0.2", "-W", "2", addr, ns=ns, check=False)

    def ping_until_ok(self, ns, addr):
        """The first packets may wait for a handshake; retry until one answers."""
        wait_for(lambda: self.ping(ns, addr, count=1).returncode == 0, f"ping {addr} from {ns}")

    def dump(self, ns, ifname):
        """`wg show IF dump` peer lines as dicts."""
        lines = sh("wg", "show", ifname, "dump", ns=ns).stdout.strip().splitlines()
        peers = []
        for line in lines[1:]:
            f = line.split("\t")
            peers.append({"public_key": f[0], "preshared_key": f[1], "endpoint": f[2],
                          "allowed_ips": f[3], "latest_handshake": int(f[4]),
                          "rx": int(f[5]), "tx": int(f[6]), "keepalive": f[7]})
        return peers

    def log_events(self, message):
        events = []
        if not os.path.exists(self.aureo_log):
            return events
        with open(self.aureo_log) as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("message") == message:
                    events.append(obj)
        return events

    def drops(self):
        """aureo-wg's drop counters, via SIGUSR1 and its log."""
        before = len(self.log_events("drop counters"))
        os.kill(self.aureo.pid, signal.SIGUSR1)
        events = wait_for(lambda: (lambda e: e if len(e) > before else None)(
            self.log_events("drop counters")), "drop counters in the log")
        text = events[-1]["drops"]
        return {k: int(v) for k, v in (kv.split("=") for kv in text.split(",") if kv)}

    def transfer(self, server_ns, server_ip, client_ns, size, mid_transfer=None, port=5001):
        """Streams size random bytes client -> server over TCP; returns the
        (bytes, sha256) both ends saw. mid_transfer runs with the stream
        paused halfway."""
        server = self.spawn(["ip", "netns", "exec", server_ns, sys.executable, STREAM, "recv",
                             server_ip, str(port)], stdout=subprocess.PIPE, text=True)
        self.test.assertEqual(server.stdout.readline().strip(), "ready")
        cmd = ["ip", "netns", "exec", client_ns, sys.executable, STREAM, "send", server_ip,
               str(port), str(size)]
        if mid_transfer:
            cmd += ["--pause-at", str(size // 2)]
        client = self.spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if mid_transfer:
            self.test.assertEqual(client.stdout.readline().strip(), "paused")
            mid_transfer()
            client.stdin.write("\n")
            client.stdin.flush()
        sent = client.communicate(timeout=300)[0].strip()
        received = server.communicate(timeout=60)[0].strip()
        self.test.assertEqual(client.returncode, 0)
        self.test.assertEqual(server.returncode, 0)
        return sent, received


class InteropTest(unittest.TestCase):

    def test_handshake_initiated_by_aureo_then_ping_both_ways_v4_and_v6(self):
        lab = Lab(self)
        lab.setup(a_knows_b=True, b_knows_a=False)
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        self.assertEqual(lab.ping(lab.ns_a, "10.77.0.2").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_a, "fd77::2").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_b, "fd77::1").returncode, 0)
        handshakes = lab.log_events("handshake completed")
        self.assertTrue(handshakes)
        self.assertTrue(handshakes[0]["initiator"])
        self.assertEqual(handshakes[0]["peer"], lab.pub_b)

    def test_handshake_initiated_by_wireguard_go_then_ping_both_ways_v4_and_v6(self):
        lab = Lab(self)
        lab.setup(a_knows_b=False, b_knows_a=True)
        lab.ping_until_ok(lab.ns_b, "10.77.0.1")
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_a, "10.77.0.2").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_b, "fd77::1").returncode, 0)
        self.assertEqual(lab.ping(lab.ns_a, "fd77::2").returncode, 0)
        handshakes = lab.log_events("handshake completed")
        self.assertTrue(handshakes)
        self.assertFalse(handshakes[0]["initiator"])
        # The responder learnt the initiator's endpoint from the handshake.
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["endpoint"], f"192.168.77.2:{PORT_B}")

    def test_ipv6_outer_transport_carries_v4_and_v6_and_tcp(self):
        lab = Lab(self, outer_v6=True)
        lab.setup()
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        self.assertEqual(lab.ping(lab.ns_b, "fd77::1").returncode, 0)
        sent, received = lab.transfer(lab.ns_b, "10.77.0.2", lab.ns_a, 10 * MB)
        self.assertEqual(sent, received)
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["endpoint"], f"[fd00:77::2]:{PORT_B}")

    def test_100mb_tcp_each_direction_arrives_intact(self):
        lab = Lab(self)
        lab.setup()
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        sent, received = lab.transfer(lab.ns_b, "10.77.0.2", lab.ns_a, 100 * MB)
        self.assertEqual(sent, received)
        self.assertEqual(int(sent.split()[0]), 100 * MB)
        sent, received = lab.transfer(lab.ns_a, "fd77::1", lab.ns_b, 100 * MB, port=5002)
        self.assertEqual(sent, received)
        self.assertEqual(int(sent.split()[0]), 100 * MB)

    def test_preshared_key_on_both_sides_gives_a_working_tunnel(self):
        lab = Lab(self)
        psk = sh("wg", "genpsk").stdout.strip()
        psk_path = os.path.join(lab.tmp, "psk")
        with open(psk_path, "w") as f:
            f.write(psk + "\n")
        lab.setup(psk_a=psk_path, psk_b=psk_path)
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1").returncode, 0)
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["preshared_key"], psk)
        sent, received = lab.transfer(lab.ns_b, "10.77.0.2", lab.ns_a, 5 * MB)
        self.assertEqual(sent, received)

    def test_mismatched_preshared_keys_never_complete_a_handshake(self):
        lab = Lab(self)
        paths = []
        for name in ("psk1", "psk2"):
            paths.append(os.path.join(lab.tmp, name))
            with open(paths[-1], "w") as f:
                f.write(sh("wg", "genpsk").stdout)
        lab.setup(b_knows_a=False, psk_a=paths[0], psk_b=paths[1])
        # aureo-wg initiates; wireguard-go answers under its own key, and
        # aureo-wg must reject that response.
        self.assertNotEqual(lab.ping(lab.ns_a, "10.77.0.2", count=2).returncode, 0)
        wait_for(lambda: lab.drops().get("handshake_failed", 0) > 0, "a failed handshake")
        self.assertEqual(lab.log_events("handshake completed"), [])
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["latest_handshake"], 0)

    def test_roaming_peer_changes_address_mid_transfer(self):
        lab = Lab(self)
        lab.setup()
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["endpoint"], f"192.168.77.2:{PORT_B}")

        def move_b():
            # b's only address becomes .3: wireguard-go's replies now leave from it.
            sh("sysctl", "-qw", "net.ipv4.conf.vB.promote_secondaries=1", ns=lab.ns_b)
            sh("ip", "addr", "add", "192.168.77.3/24", "dev", "vB", ns=lab.ns_b)
            sh("ip", "addr", "del", "192.168.77.2/24", "dev", "vB", ns=lab.ns_b)

        sent, received = lab.transfer(lab.ns_a, "10.77.0.1", lab.ns_b, 40 * MB, mid_transfer=move_b)
        self.assertEqual(sent, received)
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["endpoint"], f"192.168.77.3:{PORT_B}")
        # And aureo-wg sends to the new address: traffic it originates gets through.
        self.assertEqual(lab.ping(lab.ns_a, "10.77.0.2").returncode, 0)

    def test_persistent_keepalive_is_sent_on_the_wire(self):
        lab = Lab(self)
        lab.setup(keepalive_a=1)
        cap = Capture(lab, lab.ns_a, "vA", f"udp and src host 192.168.77.1 and dst port {PORT_B}")
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")

        def keepalives():
            return [p for p in cap.packets() if len(p[4]) == 32 and p[4][0] == 4]

        wait_for(lambda: len(keepalives()) >= 3, "three keepalives", timeout=30)
        cap.stop()
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["keepalive"], "1")

    def test_packet_from_disallowed_inner_source_is_dropped_and_counted(self):
        lab = Lab(self)
        lab.setup()
        lab.ping_until_ok(lab.ns_b, "10.77.0.1")
        before = lab.drops().get("disallowed_source", 0)
        # 10.77.9.9 is not among b's allowed IPs on a; wireguard-go still sends
        # it, because its own allowed IPs for a cover the destination.
        sh("ip", "addr", "add", "10.77.9.9/32", "dev", lab.if_b, ns=lab.ns_b)
        spoofed = sh("ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", "10.77.9.9", "10.77.0.1",
                     ns=lab.ns_b, check=False)
        self.assertNotEqual(spoofed.returncode, 0)
        self.assertEqual(lab.drops().get("disallowed_source", 0) - before, 3)
        # The legitimate source still works.
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1").returncode, 0)

    def test_replayed_transport_packet_is_dropped_and_not_delivered(self):
        lab = Lab(self)
        lab.setup()
        lab.ping_until_ok(lab.ns_b, "10.77.0.1")
        cap = Capture(lab, lab.ns_a, "vA", f"udp and src host 192.168.77.2 and dst port {PORT_A}")
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1", count=1).returncode, 0)
        packets = cap.stop()
        data = [p[4] for p in packets if len(p[4]) > 32 and p[4][0] == 4]
        self.assertTrue(data, "no transport packet captured")
        inner = Capture(lab, lab.ns_a, lab.if_a, "icmp")  # nothing may come out of the tunnel
        before_drops = lab.drops().get("replayed_counter", 0)
        before_rx = lab.dump(lab.ns_a, lab.if_a)[0]["rx"]
        replay = ("import socket,sys\n"
                  "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  f"s.sendto(bytes.fromhex(sys.argv[1]),('192.168.77.1',{PORT_A}))\n")
        for _ in range(2):
            sh(sys.executable, "-c", replay, data[0].hex(), ns=lab.ns_b)
        wait_for(lambda: lab.drops().get("replayed_counter", 0) - before_drops >= 2,
                 "replayed_counter to count both copies")
        self.assertEqual(lab.drops().get("replayed_counter", 0) - before_drops, 2)
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["rx"], before_rx)
        self.assertEqual(inner.stop(), [])
        # The endpoint did not roam to the replayer's port.
        self.assertEqual(lab.dump(lab.ns_a, lab.if_a)[0]["endpoint"], f"192.168.77.2:{PORT_B}")

    def test_forced_second_handshake_keeps_traffic_flowing(self):
        lab = Lab(self)
        lab.setup()
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        first = len(lab.log_events("handshake completed"))
        self.assertGreaterEqual(first, 1)

        def rekey():
            # wireguard-go forgets the session: its next packet starts a new
            # handshake, which aureo-wg answers while holding the old session.
            sh("wg", "set", lab.if_b, "peer", lab.pub_a, "remove", ns=lab.ns_b)
            sh("wg", "set", lab.if_b, "peer", lab.pub_a, "endpoint", f"192.168.77.1:{PORT_A}",
               "allowed-ips", "10.77.0.1/32,fd77::1/128", ns=lab.ns_b)

        # wireguard-go sends, so its first packet after forgetting starts the handshake.
        sent, received = lab.transfer(lab.ns_a, "10.77.0.1", lab.ns_b, 40 * MB, mid_transfer=rekey)
        self.assertEqual(sent, received)
        later = lab.log_events("handshake completed")
        self.assertGreater(len(later), first)
        self.assertFalse(later[-1]["initiator"])

    def test_wg_show_reports_handshake_and_transfer(self):
        lab = Lab(self)
        started = int(time.time())
        lab.setup()
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")
        sent, received = lab.transfer(lab.ns_b, "10.77.0.2", lab.ns_a, 10 * MB)
        self.assertEqual(sent, received)
        peer = lab.dump(lab.ns_a, lab.if_a)[0]
        self.assertEqual(peer["public_key"], lab.pub_b)
        self.assertGreaterEqual(peer["latest_handshake"], started)
        self.assertLessEqual(peer["latest_handshake"], int(time.time()))
        self.assertGreater(peer["tx"], 10 * MB)
        self.assertGreater(peer["rx"], 0)
        # wireguard-go saw at least what aureo-wg says it sent as data.
        go_peer = lab.dump(lab.ns_b, lab.if_b)[0]
        self.assertGreater(go_peer["rx"], 10 * MB)
        self.assertEqual(sorted(peer["allowed_ips"].split(",")), ["10.77.0.2/32", "fd77::2/128"])
        text = sh("wg", "show", lab.if_a, ns=lab.ns_a).stdout
        self.assertIn("latest handshake:", text)
        self.assertIn("transfer:", text)
        self.assertIn(f"listening port: {PORT_A}", text)

    def test_showconf_round_trips_through_setconf(self):
        lab = Lab(self)
        lab.setup(keepalive_a=25)
        conf = sh("wg", "showconf", lab.if_a, ns=lab.ns_a).stdout
        path = os.path.join(lab.tmp, "a.conf")
        with open(path, "w") as f:
            f.write(conf)
        sh("wg", "setconf", lab.if_a, path, ns=lab.ns_a)
        self.assertEqual(sh("wg", "showconf", lab.if_a, ns=lab.ns_a).stdout, conf)
        self.assertIn("PersistentKeepalive = 25", conf)

    def test_failed_set_changes_nothing(self):
        lab = Lab(self)
        lab.setup()
        # A port taken in a's namespace: hold it from a helper process there.
        holder = lab.spawn(["ip", "netns", "exec", lab.ns_a, sys.executable, "-c",
                            "import socket,sys\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
                            "s.bind(('::',5555))\nprint('bound',flush=True)\nsys.stdin.read()"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.assertEqual(holder.stdout.readline().strip(), "bound")
        other = lab.pubkey(lab.genkey("c"))
        r = sh("wg", "set", lab.if_a, "listen-port", 5555, "peer", other, "allowed-ips",
               "10.77.0.3/32", ns=lab.ns_a, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(sh("wg", "show", lab.if_a, "listen-port", ns=lab.ns_a).stdout.strip(),
                         str(PORT_A))
        self.assertEqual(sh("wg", "show", lab.if_a, "peers", ns=lab.ns_a).stdout.split(), [lab.pub_b])
        lab.ping_until_ok(lab.ns_a, "10.77.0.2")

    def test_interface_moved_to_another_netns_keeps_working(self):
        lab = Lab(self)
        ns_c = lab.ns_a[:-1] + "c"
        sh("ip", "netns", "add", ns_c)
        lab.namespaces.append(ns_c)
        lab.start_aureo()
        lab.start_wireguard_go()
        sh("ip", "link", "set", lab.if_a, "netns", ns_c, ns=lab.ns_a)
        sh("wg", "set", lab.if_a, "private-key", lab.key_a, "listen-port", PORT_A, "peer", lab.pub_b,
           "endpoint", f"192.168.77.2:{PORT_B}", "allowed-ips", "10.77.0.2/32,fd77::2/128", ns=ns_c)
        sh("wg", "set", lab.if_b, "private-key", lab.key_b, "listen-port", PORT_B, "peer", lab.pub_a,
           "endpoint", f"192.168.77.1:{PORT_A}", "allowed-ips", "10.77.0.1/32,fd77::1/128",
           ns=lab.ns_b)
        lab.address(ns_c, lab.if_a, "10.77.0.1", "fd77::1")
        lab.address(lab.ns_b, lab.if_b, "10.77.0.2", "fd77::2")
        lab.ping_until_ok(ns_c, "10.77.0.2")
        self.assertEqual(lab.ping(lab.ns_b, "10.77.0.1").returncode, 0)
        self.assertEqual(lab.ping(ns_c, "fd77::2").returncode, 0)
        sent, received = lab.transfer(ns_c, "10.77.0.1", lab.ns_b, 10 * MB)
        self.assertEqual(sent, received)

    def test_exits_cleanly_when_the_interface_is_deleted(self):
        lab = Lab(self)
        proc = lab.start_aureo()
        sh("ip", "link", "del", lab.if_a, ns=lab.ns_a)
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assertFalse(os.path.exists(os.path.join(SOCKET_DIR, lab.if_a + ".sock")))

    def test_sigterm_stops_it_and_removes_the_socket(self):
        lab = Lab(self)
        proc = lab.start_aureo()
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)
        self.assertFalse(os.path.exists(os.path.join(SOCKET_DIR, lab.if_a + ".sock")))
        self.assertNotEqual(sh("ip", "link", "show", lab.if_a, ns=lab.ns_a, check=False).returncode, 0)

    def test_daemon_mode_parent_exits_once_ready(self):
        lab = Lab(self)
        log_path = os.path.join(lab.tmp, "daemon.log")
        with open(log_path, "wb") as log:
            r = subprocess.run(["ip", "netns", "exec", lab.ns_a, BINARY, lab.if_a], stderr=log,
                               env=dict(os.environ, LOG_LEVEL="info"), timeout=30)
        self.assertEqual(r.returncode, 0)
        # Ready the moment the parent returns: no waiting.
        self.assertTrue(os.path.exists(os.path.join(SOCKET_DIR, lab.if_a + ".sock")))
        self.assertEqual(sh("ip", "link", "show", lab.if_a, ns=lab.ns_a, check=False).returncode, 0)
        with open(log_path) as f:
            started = [json.loads(line) for line in f if '"device started"' in line]
        pid = int(started[0]["pid"])
        self.addCleanup(lambda: os.path.exists(f"/proc/{pid}") and os.kill(pid, signal.SIGKILL))
        self.assertEqual(sh("wg", "show", lab.if_a, ns=lab.ns_a).returncode, 0)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}/status") or
                 "zombie" in open(f"/proc/{pid}/status").read(), "the daemon to exit")
        self.assertFalse(os.path.exists(os.path.join(SOCKET_DIR, lab.if_a + ".sock")))


def main():
    global BINARY
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
