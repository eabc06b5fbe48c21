#!/usr/bin/env bash
# One node of the test cluster: containerd, kubelet and kube-proxy, in the node's own network
# namespace and a private mount namespace. Started by tests/cluster/up as
#   nsenter --net=/run/netns/nbc-node-N -- unshare --mount --propagation slave -- node.sh node-N
# and ended by tests/cluster/down (which kills every process in the node's cgroups).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
node=$1
N=$(node_dir "$node")

# Everything this node starts (containerd, its shims, kubelet, kube-proxy) lives under the
# node's cgroup, so down can find and end all of it; pods go under <root>/kubepods.
for h in $(cgroup_hierarchies); do echo $$ >"$h/nbc-$node/system/cgroup.procs"; done

# The kubelet's hard-coded paths, private to this node.
for p in "${NODE_PRIVATE_DIRS[@]}"; do
  own="$N/private${p//\//_}"
  mkdir -p "$own"
  mount --bind "$own" "$p"
done

export AWS_EC2_METADATA_DISABLED=true # SAFETY: the kubelet's AWS provider must never look
containerd --config "$N/containerd.toml" >"$N/logs/containerd.log" 2>&1 &
for _ in $(seq 200); do [ -S "$N/containerd.sock" ] && break; sleep 0.05; done
[ -S "$N/containerd.sock" ] || { echo "containerd did not start: see $N/logs/containerd.log" >&2; exit 1; }

"$KUBE_BIN/kubelet" \
  --config="$N/kubelet.yaml" --kubeconfig="$N/kubelet.kubeconfig" \
  --hostname-override="$node" --node-ip="$(node_ip "$node")" \
  --node-labels="node-lifecycle=on-demand,topology.kubernetes.io/zone=$(node_zone "$node")" \
  --cert-dir="$N/kubelet-pki" \
  --v=1 >"$N/logs/kubelet.log" 2>&1 &
"$KUBE_BIN/kube-proxy" --config="$N/kube-proxy.yaml" --v=1 >"$N/logs/kube-proxy.log" 2>&1 &

# If any of the three ends, the node is broken: end the others and say which.
set +e
wait -n
echo "$node: a component exited ($?); see $N/logs" >&2
kill $(jobs -p) 2>/dev/null
wait
