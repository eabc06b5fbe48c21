# Shared by tests/cluster/{up,down,images,e2e}: names, addresses and paths of the test cluster.
# Sourced, not run.
#
# Addresses (all inside 198.18.0.0/15, the only range any part may reach; see SAFETY in
# shared/notes/real-cluster.md):
#   host bridge nbc0        198.18.0.254/24   the apiserver binds here only
#   node-N (netns nbc-node-N, veth)  198.18.0.N/24, pods 198.18.N.0/24 (CNI bridge in the node)
#   Services                198.19.0.0/16     (kubernetes = 198.19.0.1)
# A node's only routes are 198.18.0.0/24 on its veth, each other node's pod subnet via that
# node, and 198.18.0.0/15 via the host: nothing it or a pod sends can go anywhere else.
#
# Three nodes in two zones (label topology.kubernetes.io/zone): node-1 and node-2 in zone-a,
# node-3 in zone-b, so a run sees pairs inside a zone and across zones.

CLUSTER_STATE=${NETBENCH_CLUSTER_DIR:-/var/lib/netbench-cluster}
# Kubernetes v1.36.3, unpacked from the shared directory by tests/kube/install-binaries.sh.
KUBE_VERSION=v1.36.3
KUBE_BIN=${KUBE_BIN_DIR:-/var/cache/netbench/kube-1.36.3/bin}
# The prebuilt binaries (kube-1.36/, fortio.xz): $NETBENCH_SHARED_DIR, or `shared` beside the
# checkout.
SHARED_DIR=${NETBENCH_SHARED_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared}
IMAGE_CACHE=${NETBENCH_IMAGE_CACHE:-/var/cache/netbench/cluster-images}
NODES=(node-1 node-2 node-3)
# The zone each node is labelled with (node_zone).  Runs pick zone-a alone with
# --node-labels topology.kubernetes.io/zone=zone-a when two nodes are enough.
declare -A NODE_ZONE=([node-1]=zone-a [node-2]=zone-a [node-3]=zone-b)
BRIDGE=nbc0
HOST_IP=198.18.0.254
SERVICE_RANGE=198.19.0.0/16
API_SERVICE_IP=198.19.0.1
API_URL="https://$HOST_IP:6443"
ETCD_PORT=23790
ETCD_PEER_PORT=23800
# Paths the kubelet hard-codes: each node binds its own directory over them, in its own
# mount namespace. Created on the host only if missing (and then removed by down).
# /run/netns too: containerd names each pod's network namespace there (cni-<uuid>), and the
# host must not be left with those names once the nodes are gone.
# /var/lib/cni: libcni's result cache.
NODE_PRIVATE_DIRS=(/var/lib/kubelet /var/log/pods /var/log/containers /run/containerd /run/netns /var/lib/cni)
# The images the e2e test runs (tests/cluster/images builds them from docker/).
IMG_NETBENCH=localhost/netbench:cluster-test
IMG_WORKER=localhost/netbench-worker:cluster-test
IMG_NATS=localhost/nats:cluster-test
IMG_PAUSE=localhost/pause:cluster-test

node_index() { echo "${1#node-}"; }
node_ip() { echo "198.18.0.$(node_index "$1")"; }
node_pod_subnet() { echo "198.18.$(node_index "$1").0/24"; }
node_netns() { echo "nbc-$1"; }
node_dir() { echo "$CLUSTER_STATE/$1"; }
node_zone() { echo "${NODE_ZONE[$1]:?no zone for node $1 in lib.sh}"; }
# Every cgroup hierarchy (v1 controllers, and the named systemd and unified ones the kubelet
# also checks): a node's processes are put in its own cgroup in each.
cgroup_hierarchies() {
  local d
  for d in /sys/fs/cgroup/*/; do
    d=${d%/}
    [ -f "$d/cgroup.procs" ] && echo "$d"
  done
}
# kubectl keeps its discovery cache in the state directory, not in ~/.kube.
admin_kubectl() {
  "$KUBE_BIN/kubectl" --kubeconfig "$CLUSTER_STATE/admin.kubeconfig" --cache-dir "$CLUSTER_STATE/kubectl-cache" "$@"
}
log() { printf '%s cluster: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
