"""Assertions of tests/cluster/e2e on what the real cluster produced. Pure file checks.

  check.py results FILE BENCH [--min N] [--pairs N] [--partial]   a results file of a launch
                                        (--pairs: exactly N results, N distinct node pairs)
  check.py nodes NODES.json NODE=ZONE...               the cluster's nodes and their zones
  check.py zones FILE K NODE=ZONE...                   a --plan zones:K run: the planned pairs
  check.py concurrency FILE C [--plan P]               a --concurrency C run: no worker in two
                                                       pairs at once, concurrent_pairs honest
  check.py suite FILE PAIRS BENCH:SAMPLES...          a --suite run: every entry's benchmark,
                                                       each (entry, sample, pair) once, all ok
  check.py safety LOG                                  every address seen is ours
  check.py stream INFO.json RESULTS.jsonl N R SERVER   a run's results read from one server of a
                                                       NATS cluster: N pairs, each once; the
                                                       stream has R replicas
  check.py paths FILE PATH=N... [--nodes NODE=IP...] [--nat NODE=FILE...]
                                                       a --paths run: N results on each path, all
                                                       ok; host between the nodes' own addresses,
                                                       same-node on one node, service through a
                                                       ClusterIP in 198.19.0.0/16 (in the args),
                                                       whose kube-proxy rules on the client's node
                                                       counted packets (iptables-save -c -t nat)
"""
import collections
import datetime
import ipaddress
import itertools
import json
import re
import sys

OURS = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "198.18.0.0/15", "::1/128")]
# Link-local multicast (IGMP/MLD reports of the nodes' and pods' interfaces): never routed.
LINK_LOCAL_MULTICAST = [ipaddress.ip_network(n) for n in ("224.0.0.0/24", "ff02::/16")]


def fail(msg):
    print(f"    {msg}")
    sys.exit(1)


def results(path, bench, minimum=1, partial=False, pairs=None):
    doc = json.load(open(path))
    rs = doc["results"]
    if len(rs) < minimum:
        fail(f"{path}: {len(rs)} results, want at least {minimum}")
    if pairs is not None:
        nodes = [(r["task"]["client"]["vm"]["hostname"], r["task"]["server"]["vm"]["hostname"]) for r in rs]
        if len(rs) != pairs or len(set(nodes)) != pairs:
            fail(f"{path}: {len(rs)} results for {len(set(nodes))} distinct node pairs, want {pairs}: {nodes}")
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


def suite(path, pairs, entries):
    """A run of several entries: entry i is entries[i] = (bench, samples), run on the same
    workers, every (entry, sample, node pair) once and ok with a positive headline."""
    rs = json.load(open(path))["results"]
    want = pairs * sum(k for _, k in entries)
    if len(rs) != want:
        fail(f"{path}: {len(rs)} results, want {want} ({pairs} pairs × {entries})")
    seen = set()
    workers = set()
    for r in rs:
        e, k = r["entry"], r["sample"]
        bench, samples = entries[e]
        if r["benchmark"] != bench or not k < samples:
            fail(f"entry {e} sample {k}: {r['benchmark']}, want {bench} with {samples} samples")
        t = r["task"]
        key = (e, k, t["client"]["vm"]["hostname"], t["server"]["vm"]["hostname"])
        if key in seen:
            fail(f"{key} twice")
        seen.add(key)
        workers |= {t["client"]["worker"], t["server"]["worker"]}
        if t["status"] != 0:
            fail(f"status {t['status']} for {key}: {r.get('error')} {r['output'][:300]}")
        head = (r.get("metrics") or [{"value": 0}])[0]
        if not head["value"] > 0:
            fail(f"no positive headline for {key}: {r.get('metrics')}")
        print(f"    entry {e} sample {k} {key[2]} -> {key[3]}  {bench} {t.get('parameters')}  "
              f"{head['name']} {head['value']:.4g} {head['unit']}")
    hosts = {h for key in seen for h in key[2:]}
    if len(workers) != len(hosts):
        fail(f"workers {sorted(workers)} on nodes {sorted(hosts)}: one deployment, one worker per node")


def node_zones(args):
    """NODE=ZONE arguments as a dict."""
    return dict(a.split("=", 1) for a in args)


def nodes(path, want):
    """`kubectl get nodes -o json`: exactly the nodes of lib.sh, Ready, each with its zone."""
    items = json.load(open(path))["items"]
    got = {n["metadata"]["name"]: n["metadata"].get("labels", {}).get("topology.kubernetes.io/zone") for n in items}
    if got != want:
        fail(f"nodes and zones {got}, want {want}")
    for n in items:
        ready = [c for c in n["status"].get("conditions", []) if c["type"] == "Ready"]
        if not ready or ready[0]["status"] != "True":
            fail(f"node {n['metadata']['name']} is not Ready: {ready}")
    print(f"    {len(got)} nodes Ready in {len(set(want.values()))} zones: "
          + ", ".join(f"{k} {v}" for k, v in sorted(got.items())))


def zones(path, k, zone_of):
    """A `--plan zones:K` run on these nodes: for every ordered pair of zones (same zone
    included) min(K, possible) pairs, possible being the ordered pairs of distinct nodes; every
    result's client and server zone as the nodes are labelled; the run state says the plan."""
    doc = json.load(open(path))
    rs = doc["results"]
    plan = (doc.get("run") or {}).get("plan")
    if plan != f"zones:{k}":
        fail(f"run state says plan {plan!r}, want 'zones:{k}'")
    members = collections.defaultdict(list)
    for n, z in zone_of.items():
        members[z].append(n)
    want = {}
    for za, zb in itertools.product(sorted(members), repeat=2):
        possible = sum(1 for c in members[za] for s in members[zb] if c != s)
        if possible:
            want[(za, zb)] = min(k, possible)
    got = collections.Counter()
    seen = set()
    for r in rs:
        c, s = r["task"]["client"], r["task"]["server"]
        ch, sh = c["vm"]["hostname"], s["vm"]["hostname"]
        for side, host in ((c, ch), (s, sh)):
            if host not in zone_of:
                fail(f"a result names node {host!r}, not one of {sorted(zone_of)}")
            if side["vm"]["availability_zone"] != zone_of[host]:
                fail(f"{host}: zone {side['vm']['availability_zone']!r} in the results, labelled {zone_of[host]!r}")
        if (ch, sh) in seen:
            fail(f"pair {ch} -> {sh} measured twice")
        seen.add((ch, sh))
        got[(zone_of[ch], zone_of[sh])] += 1
    if dict(got) != want:
        fail(f"pairs per zone pair {dict(got)}, want {want}")
    if len(rs) != sum(want.values()):
        fail(f"{len(rs)} results, want {sum(want.values())}")
    print(f"    plan zones:{k}: {len(rs)} pairs, "
          + ", ".join(f"{a}->{b} {n}" for (a, b), n in sorted(got.items())))


def when(t):
    """An RFC 3339 time of the results file (nanoseconds are cut to microseconds)."""
    t = re.sub(r"(\.\d{6})\d+", r"\1", t)
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))


def concurrency(path, c, plan=None):
    """A `--concurrency C` run: the run state says C; no worker is in two pairs at the same
    time; every result's concurrent_pairs is between 1 and C, at least the number of pairs its
    own interval overlaps, and 1 when every other pair shares a worker with it."""
    doc = json.load(open(path))
    rs = doc["results"]
    got = (doc.get("run") or {}).get("concurrency")
    if got != c:
        fail(f"run state says concurrency {got!r}, want {c}")
    if plan is not None and (doc.get("run") or {}).get("plan") != plan:
        fail(f"run state says plan {(doc.get('run') or {}).get('plan')!r}, want {plan!r}")
    spans = []
    for r in rs:
        t = r["task"]
        a, b = when(r["started_at"]), when(r["finished_at"])
        if b < a:
            fail(f"{r['pair']}: finished_at {r['finished_at']} before started_at {r['started_at']}")
        spans.append((a, b, {t["client"]["worker"], t["server"]["worker"]}, r))
    for (a1, b1, w1, r1), (a2, b2, w2, r2) in itertools.combinations(spans, 2):
        if a1 < b2 and a2 < b1 and w1 & w2:
            fail(f"worker {sorted(w1 & w2)} in two pairs at once: {r1['pair']} "
                 f"{r1['started_at']}..{r1['finished_at']} and {r2['pair']} {r2['started_at']}..{r2['finished_at']}")
    for a, b, w, r in spans:
        n = r.get("concurrent_pairs")
        overlapping = sum(1 for a2, b2, _, _ in spans if a2 < b and a < b2)
        if not isinstance(n, int) or not 1 <= n <= c:
            fail(f"{r['pair']}: concurrent_pairs {n!r}, want 1..{c}")
        if n < overlapping:
            fail(f"{r['pair']}: concurrent_pairs {n}, but {overlapping} pairs (itself included) overlap it")
        # A pair that shares a worker with every other pair of the run can only run alone.
        if n != 1 and all(w & w2 for _, _, w2, _ in spans):
            fail(f"{r['pair']}: concurrent_pairs {n}, but every other pair shares a worker with it")
    print(f"    concurrency {c}: {len(rs)} pairs, no worker in two at once, concurrent_pairs "
          + ", ".join(str(r.get("concurrent_pairs")) for r in rs))


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


def stream(info_path, results_path, pairs, replicas, server):
    """`nats stream info NETBENCH --json` and `nats sub --stream NETBENCH --all --raw` of a
    run's results, from one server of a NATS cluster."""
    try:
        info = json.load(open(info_path))
    except (OSError, ValueError) as e:
        fail(f"{server}: no stream info ({e}): {open(info_path.replace('.json', '.err')).read()[:300]}")
    got = info["config"].get("num_replicas")
    if got != replicas:
        fail(f"{server}: stream NETBENCH has {got} replicas, want {replicas}")
    cluster = info.get("cluster", {})
    members = [cluster.get("leader")] + [r.get("name") for r in cluster.get("replicas", [])]
    members = [m for m in members if m]
    lines = [l for l in open(results_path).read().splitlines() if l.strip()]
    seen = collections.Counter()
    for l in lines:
        r = json.loads(l)
        t = r["task"]
        seen[(r["pair"], t["client"]["worker"], t["server"]["worker"])] += 1
    twice = {k: v for k, v in seen.items() if v != 1}
    if twice:
        fail(f"{server}: results stored more than once: {twice}")
    if len(seen) != pairs:
        fail(f"{server}: {len(seen)} results in the stream, want {pairs}")
    print(f"    {server}: {len(seen)} results, each once; stream leader {cluster.get('leader')}, "
          f"servers {sorted(members)}, {info['state']['messages']} messages")


SERVICE_RANGE = ipaddress.ip_network("198.19.0.0/16")


def nat_counters(path):
    """`iptables-save -c -t nat` of a node: [(packets, rule)] of every rule."""
    out = []
    for line in open(path):
        m = re.match(r"\[(\d+):(\d+)\] (-A .*)", line.strip())
        if m:
            out.append((int(m.group(1)), m.group(3)))
    return out


def pod_subnet(node_ip):
    """The pod subnet of the node with this address (lib.sh: node-N 198.18.0.N, pods 198.18.N.0/24)."""
    return ipaddress.ip_network(f"198.18.{ipaddress.ip_address(node_ip).packed[3]}.0/24")


def paths(path, want, node_ips, nat_files):
    """A `--paths` run: `want` results on each path, every one ok with a positive headline;
    pod and service between pods of two nodes (each in its node's pod subnet), host between the
    nodes' own addresses, same-node client and server pods on one node (in its pod subnet);
    service: the server's service_ip a ClusterIP (198.19.0.0/16), the one the client's command
    names, and kube-proxy's rules for it on the client's node (KUBE-SERVICES -> the Service's
    chain, and the endpoint's DNAT to the server pod) counted packets."""
    rs = json.load(open(path))["results"]
    got = collections.Counter(r.get("path", "pod") for r in rs)
    if dict(got) != want:
        fail(f"{path}: results per path {dict(got)}, want {want}")
    nats = {n: nat_counters(f) for n, f in nat_files.items()}
    per_path = collections.defaultdict(list)
    for r in rs:
        t, p = r["task"], r.get("path", "pod")
        c, s = t["client"], t["server"]
        ch, sh = c["vm"]["hostname"], s["vm"]["hostname"]
        where = f"{p} {c['worker']} -> {s['worker']}"
        if t["status"] != 0:
            fail(f"{where}: status {t['status']}: {r.get('error')} {r['output'][:300]}")
        head = (r.get("metrics") or [{"value": 0}])[0]
        if not head["value"] > 0:
            fail(f"{where}: no positive headline in {r.get('metrics')}")
        ci, si = ipaddress.ip_address(c["ip"]), ipaddress.ip_address(s["ip"])
        if p == "host":
            if (c["ip"], s["ip"]) != (node_ips[ch], node_ips[sh]) or ch == sh:
                fail(f"{where}: {c['ip']} -> {s['ip']}, want the nodes' own addresses "
                     f"{node_ips[ch]} -> {node_ips[sh]} on two nodes")
        else:
            if ci not in pod_subnet(node_ips[ch]) or si not in pod_subnet(node_ips[sh]):
                fail(f"{where}: {c['ip']} -> {s['ip']} are not pod addresses of {ch} and {sh}")
            if (p == "same-node") != (ch == sh):
                fail(f"{where}: client on {ch}, server on {sh}")
        if p == "same-node" and not (c["worker"].startswith("worker2-") and s["worker"].startswith("worker-")):
            fail(f"{where}: want worker2-<node> -> worker-<node>")
        vip = s.get("service_ip")
        if p != "service":
            if vip:
                fail(f"{where}: a service_ip on path {p}")
        else:
            if not vip or ipaddress.ip_address(vip) not in SERVICE_RANGE:
                fail(f"{where}: service_ip {vip!r}, want a ClusterIP in {SERVICE_RANGE}")
            if vip not in t["args"]:
                fail(f"{where}: the client did not dial {vip}: {t['args']}")
            if ch in nats:
                rules = nats[ch]
                # iptables' nat table sees the first packet of each connection: its counters count
                # the connections kube-proxy's rules DNATed.
                svc = [(n, rl) for n, rl in rules
                       if rl.startswith("-A KUBE-SERVICES ") and f"-d {vip}/32" in rl and "-j KUBE-SVC-" in rl]
                dnat = [(n, rl) for n, rl in rules if f"--to-destination {s['ip']}:" in rl]
                if not svc or not any(n > 0 for n, _ in svc):
                    fail(f"{where}: kube-proxy's KUBE-SERVICES rule for {vip} on {ch} counted no connection: {svc}")
                if not dnat or not any(n > 0 for n, _ in dnat):
                    fail(f"{where}: no DNAT rule to {s['ip']} on {ch} counted a connection: {dnat}")
                print(f"    kube-proxy on {ch}: {sum(n for n, _ in svc)} connections to {vip} into the "
                      f"Service's chain, {sum(n for n, _ in dnat)} DNATed to the server pod {s['ip']}")
        per_path[p].append(head["value"])
        print(f"    {p:9} {c['worker']:15} {c['ip']:>11} -> {s['worker']:14} {s['ip']:>11}"
              + (f" via {vip}" if vip else "") + f"  {head['name']} {shown(head['value'], head['unit'])}")
    print("    mean per path: " + ", ".join(
        f"{p} {shown(sum(vs) / len(vs), head['unit'])}" for p, vs in per_path.items()))


def shown(v, unit):
    """A headline value as people read it: bytes per second as Gbit/s."""
    if unit == "bytes_per_second":
        return f"{v * 8 / 1e9:.2f} Gbit/s"
    return f"{v:.4g} {unit}"


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "results":
        args = sys.argv[2:]
        minimum = int(args[args.index("--min") + 1]) if "--min" in args else 1
        pairs = int(args[args.index("--pairs") + 1]) if "--pairs" in args else None
        results(args[0], args[1], minimum, "--partial" in args, pairs)
    elif cmd == "nodes":
        nodes(sys.argv[2], node_zones(sys.argv[3:]))
    elif cmd == "zones":
        zones(sys.argv[2], int(sys.argv[3]), node_zones(sys.argv[4:]))
    elif cmd == "concurrency":
        args = sys.argv[2:]
        concurrency(args[0], int(args[1]), args[args.index("--plan") + 1] if "--plan" in args else None)
    elif cmd == "suite":
        suite(sys.argv[2], int(sys.argv[3]),
              [(b, int(k)) for b, k in (a.rsplit(":", 1) for a in sys.argv[4:])])
    elif cmd == "safety":
        safety(sys.argv[2])
    elif cmd == "paths":
        args = sys.argv[3:]
        def kv(flag):
            if flag not in args:
                return {}
            i = args.index(flag) + 1
            vals = []
            while i < len(args) and not args[i].startswith("--"):
                vals.append(args[i]); i += 1
            return node_zones(vals)
        wanted = {}
        for a in args:
            if a.startswith("--"):
                break
            k, v = a.split("=", 1)
            wanted[k] = int(v)
        paths(sys.argv[2], wanted, kv("--nodes"), kv("--nat"))
    elif cmd == "stream":
        stream(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        fail(f"unknown check {cmd}")
