#!/usr/bin/env bash
# Install the Kubernetes v1.36.3 binaries the tests run, from the prebuilt, xz-packed ones in
# the shared directory (shared/bin/kube-1.36/, see its PROVENANCE.md: static linux/amd64 builds
# of OpenShift's Kubernetes v1.36.3 fork, upstream behaviour without --openshift-config):
#   kube-apiserver kube-controller-manager kube-scheduler   the launcher's API-server tests
#   kubelet kube-proxy kubectl                             and the real cluster (tests/cluster)
# plus `pause`, the pod sandbox of the real cluster, compiled from tests/cluster/pause.c.
#
# Output: $KUBE_BIN_DIR (default /var/cache/netbench/kube-1.36.3/bin), outside the checkout.
# Each binary's sha256 is checked against PROVENANCE.md; a cached binary whose checksum already
# matches is kept (and not hashed again while its size and mtime stay), anything else is
# unpacked again. `pause` is rebuilt when pause.c changes.
#
#   shared dir:   $NETBENCH_SHARED_DIR, default <repo>/../shared
#   apt packages: xz-utils (unpack), gcc libc6-dev (pause)
#   usage:        tests/kube/install-binaries.sh     (~15 s cold, ~2 s when cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
VERSION=v1.36.3
SHARED=${NETBENCH_SHARED_DIR:-$repo/../shared}
SRC=$SHARED/bin/kube-1.36
BIN=${KUBE_BIN_DIR:-/var/cache/netbench/kube-1.36.3/bin}
WANT=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
say() { echo "install-binaries: $*" >&2; }
die() { say "error: $*"; exit 1; }

[ -f "$SRC/PROVENANCE.md" ] || die "no $SRC/PROVENANCE.md: the prebuilt Kubernetes $VERSION binaries are
  expected in <shared>/bin/kube-1.36/ (*.xz and PROVENANCE.md), with <shared> = \$NETBENCH_SHARED_DIR
  or, by default, the directory 'shared' beside the checkout ($repo/../shared).
  Set NETBENCH_SHARED_DIR to where they are."
command -v xz >/dev/null || die "xz not found: install the Debian package xz-utils"

# The expected checksum of each binary: its row `| name | <64 hex> |` in PROVENANCE.md.
want_sha() {
  awk -F'|' -v b="$1" '{gsub(/ /, "", $2); gsub(/ /, "", $3)} $2 == b && length($3) == 64 && $3 !~ /[^0-9a-f]/ {print $3; exit}' \
    "$SRC/PROVENANCE.md"
}
mkdir -p "$BIN"
remember() { # name sha: record a verified binary in .verified
  { grep -v "^$1 " "$BIN/.verified" 2>/dev/null || true; echo "$1 $2 $(stat -c %s:%Y "$BIN/$1")"; } >"$BIN/.verified.new"
  mv -f "$BIN/.verified.new" "$BIN/.verified"
}
unpacked=()
for b in "${WANT[@]}"; do
  sha=$(want_sha "$b")
  [ -n "$sha" ] || die "$SRC/PROVENANCE.md lists no sha256 for $b (a row '| $b | <sha256> |')"
  # Hashing ~500 MB takes seconds: a binary verified before (its checksum, size and mtime are
  # in .verified) and unchanged since is not hashed again.
  if [ -x "$BIN/$b" ]; then
    id="$b $sha $(stat -c %s:%Y "$BIN/$b")"
    grep -qxF "$id" "$BIN/.verified" 2>/dev/null && continue
    if [ "$(sha256sum <"$BIN/$b" | cut -d' ' -f1)" = "$sha" ]; then
      remember "$b" "$sha"
      continue
    fi
  fi
  [ -f "$SRC/$b.xz" ] || die "$SRC/$b.xz missing"
  tmp=$(mktemp "$BIN/.$b.XXXXXX")
  if ! xz -dc "$SRC/$b.xz" >"$tmp"; then rm -f "$tmp"; die "cannot unpack $SRC/$b.xz"; fi
  got=$(sha256sum <"$tmp" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    rm -f "$tmp"
    die "$SRC/$b.xz unpacks to sha256 $got, but PROVENANCE.md says $sha: the file is damaged or not the one described; get it again"
  fi
  chmod 0755 "$tmp"
  mv -f "$tmp" "$BIN/$b"
  remember "$b" "$sha"
  unpacked+=("$b")
done

# The pod sandbox: a static program that sleeps until SIGINT/SIGTERM and reaps zombies.
pause_src=$repo/tests/cluster/pause.c
pause_sha=$(sha256sum <"$pause_src" | cut -d' ' -f1)
if [ ! -x "$BIN/pause" ] || [ "$(cat "$BIN/pause.c.sha256" 2>/dev/null)" != "$pause_sha" ]; then
  command -v gcc >/dev/null || die "gcc not found: install the Debian packages gcc and libc6-dev (for $pause_src)"
  gcc -Os -static -Wall -Werror -o "$BIN/pause.new" "$pause_src" ||
    die "cannot compile $pause_src statically (needs gcc and libc6-dev)"
  mv -f "$BIN/pause.new" "$BIN/pause"
  echo "$pause_sha" >"$BIN/pause.c.sha256"
  unpacked+=(pause)
fi

v=$("$BIN/kube-apiserver" --version)
[ "$v" = "Kubernetes $VERSION" ] || die "$BIN/kube-apiserver says '$v', want 'Kubernetes $VERSION'"
if ((${#unpacked[@]})); then say "installed ${unpacked[*]} into $BIN ($v)"
else say "all binaries in $BIN match their checksums, nothing to do ($v)"; fi
