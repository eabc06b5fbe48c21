"""Assertions of tests/cluster/e2e on what the real cluster produced. Pure file checks.

  check.py results FILE BENCH [--min N] [--partial]   a results file of a launch
  check.py safety LOG                                  every address seen is ours
"""
import ipaddress
import json
import re
import sys

OURS = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "198.18.0.0/15", "::1/128")]
# Link-local multicast (IGMP/MLD reports of the nodes' and pods' interfaces): never routed.
LINK_LOCAL_MULTICAST = [ipaddress.ip_network(n) for n in ("224.0.0.0/24", "ff02::/16")]


def fail(msg):
    print(f"    {msg}")
    sys.exit(1)


def results(path, bench, minimum=1, partial=False):
    doc = json.load(open(path))
    rs = doc["results"]
    if len(rs) < minimum:
        fail(f"{path}: {len(rs)} results, want at least {minimum}")
    for r in rs:
        if r.get("benchmark") != bench:
            fail(f"benchmark {r.get('benchmark')}, want {bench}")
        t = r["task"]
        c, s = t["client"], t["server"]
        for side in (c, s):
            for k in ("worker", "ip", "vm", "idle"):
                if k not in side:
                    fail(f"missing task.{k} in {side}")
        if c["vm"]["hostname"] == s["vm"]["hostname"]:
            fail(f"client and server on the same node: {c['vm']['hostname']}")
        for side in (c, s):
            if not ipaddress.ip_address(side["ip"]) in ipaddress.ip_network("198.18.0.0/15"):
                fail(f"pod IP {side['ip']} is not a pod of the test cluster")
        if not partial:
            if t["status"] != 0:
                fail(f"status {t['status']} for {c['worker']} -> {s['worker']}: {r['output'][:300]}")
            if not r["output"].strip():
                fail("empty tool output")
            metrics = r.get("metrics") or []
            # The first metric is the benchmark's headline (throughput, transaction rate).
            if not metrics or not metrics[0]["value"] > 0:
                fail(f"no positive headline measurement in {metrics}")
    for r in rs:
        t = r["task"]
        head = (r.get("metrics") or [{"name": "-", "value": 0, "unit": ""}])[0]
        print(f"    {t['client']['vm']['hostname']} -> {t['server']['vm']['hostname']}  "
              f"status {t['status']} ({r.get('status_name')})  "
              f"{head['name']} {head['value']:.4g} {head['unit']}")
    return rs


def safety(path):
    seen, bad = set(), set()
    for line in open(path):
        for a in re.findall(r"(?:src|dst)=([0-9a-fA-F.:]+)", line) + re.findall(
            r"\s\[?([0-9a-fA-F.:]+?)\]?:\d+(?=\s|$)", line
        ):
            a = a.removeprefix("::ffff:")
            try:
                ip = ipaddress.ip_address(a)
            except ValueError:
                continue
            if ip.is_unspecified or any(ip in n for n in LINK_LOCAL_MULTICAST if n.version == ip.version):
                continue
            seen.add(ip)
            if not any(ip in n for n in OURS if n.version == ip.version):
                bad.add(ip)
    if bad:
        fail(f"addresses outside 127/8 and 198.18/15: {sorted(map(str, bad))}")
    if len(seen) < 4:
        fail(f"only {len(seen)} addresses observed: the monitor saw nothing")
    print(f"    {len(seen)} distinct addresses observed, all in 127/8 or 198.18/15")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "results":
        args = sys.argv[2:]
        minimum = int(args[args.index("--min") + 1]) if "--min" in args else 1
        results(args[0], args[1], minimum, "--partial" in args)
    elif cmd == "safety":
        safety(sys.argv[2])
    else:
        fail(f"unknown check {cmd}")
