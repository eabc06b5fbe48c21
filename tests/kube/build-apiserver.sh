#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy v1.20.2 from Debian
# bookworm's `kubernetes` SOURCE package (the full upstream tree with vendor/), offline,
# with Debian's Go 1.19. See /work/shared/notes/kube-apiserver.md for why this path.
#
# Output: $KUBE_BIN_DIR (default /var/cache/netbench/kube-1.20.2/bin), outside the checkout.
# Only missing binaries are built; nothing is done when all exist.  Needs root for apt-get.
#
#   apt packages: golang-1.19-go golang-github-modern-go-reflect2-dev etcd-server make
#   usage:        tests/kube/build-apiserver.sh            (~5 min of CPU on 2 cores, ~3.5 GB disk)
set -euo pipefail

VERSION_DEB="1.20.5+really1.20.2-1.1+deb12u1"
CACHE="${KUBE_CACHE_DIR:-/var/cache/netbench/kube-1.20.2}"
BIN="${KUBE_BIN_DIR:-$CACHE/bin}"
# The control plane for the launcher tests, and kubelet + kube-proxy for the real cluster
# (tests/cluster/up), and a kubectl of the same version.
WANT=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

have_all() { for b in "${WANT[@]}" pause; do [[ -x "$BIN/$b" ]] || return 1; done; }
if have_all; then echo "build-apiserver: binaries present in $BIN, nothing to do"; exit 0; fi

export DEBIAN_FRONTEND=noninteractive
need=()
for p in golang-1.19-go golang-github-modern-go-reflect2-dev etcd-server make; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends "${need[@]}"; fi

SRC="$CACHE/src"
mkdir -p "$SRC" "$BIN"
cd "$SRC"

# 1. Fetch the source package with a private apt config (deb-src lines), /etc untouched.
if ! ls kubernetes_*.orig.tar.* >/dev/null 2>&1; then
    APT="$CACHE/apt"
    mkdir -p "$APT/lists/partial" "$APT/archives/partial"
    cat >"$APT/sources.list" <<LIST
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
    opts=(-o Dir::Etc::sourcelist="$APT/sources.list" -o Dir::Etc::sourceparts=/nonexistent
          -o Dir::State::Lists="$APT/lists" -o Dir::Cache::Archives="$APT/archives")
    apt-get "${opts[@]}" update
    apt-get "${opts[@]}" source --download-only "kubernetes=$VERSION_DEB"
fi

# 2. Unpack the upstream tree (the orig tarball is the full tree with vendor/).
TREE="$SRC/tree"
if [[ ! -f "$TREE/Makefile" ]]; then
    rm -rf "$TREE" && mkdir -p "$TREE"
    tar -xf kubernetes_*.orig.tar.* -C "$TREE" --strip-components=1
fi

# 3. The vendored reflect2 v1.0.1 breaks on Go >= 1.18: use Debian's 1.0.2.
R2="$TREE/vendor/github.com/modern-go/reflect2"
rm -rf "$R2" && mkdir -p "$R2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2/. "$R2/"
rm -f "$R2/go.mod" "$R2/go.sum"

# 4. No git in the tarball: give the build its version explicitly.
cat >"$SRC/version.env" <<VER
KUBE_GIT_VERSION='v1.20.2'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
KUBE_GIT_TREE_STATE='clean'
VER

export PATH="/usr/lib/go-1.19/bin:$PATH"
export GOCACHE="$CACHE/gocache" GOPATH="$CACHE/gopath" GOFLAGS=-mod=vendor GO111MODULE=on
export CGO_ENABLED=0 KUBE_GIT_VERSION_FILE="$SRC/version.env"
cd "$TREE"
missing=()
for b in "${WANT[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("cmd/$b"); done
if ((${#missing[@]})); then time make WHAT="${missing[*]}"; fi
for b in "${missing[@]}"; do install -m 0755 "_output/bin/${b#cmd/}" "$BIN/${b#cmd/}"; done
# The pod sandbox ("pause") of the real cluster: a static C program from the same tree.
[[ -x "$BIN/pause" ]] || gcc -Os -static -o "$BIN/pause" build/pause/linux/pause.c
"$BIN/kube-apiserver" --version
echo "build-apiserver: done, binaries in $BIN"
