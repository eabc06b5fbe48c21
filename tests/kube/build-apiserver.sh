#!/usr/bin/env bash
# The old entry point, kept for callers: Kubernetes is no longer built here (it was 1.20.2 from
# Debian's source package, ~18 min); the prebuilt v1.36.3 binaries are unpacked instead.
exec "$(dirname "$0")/install-binaries.sh" "$@"
