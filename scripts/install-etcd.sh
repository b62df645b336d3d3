#!/usr/bin/env bash
# Installs etcd, the anchor of `dmsg bench quorum` and `dmsg bench lock` (docs/BENCHMARKS.md "Quorum (issue 16)", "Locks (issue 17)"):
#   etcd (etcd-server) and etcdctl (etcd-client), Debian's 3.4.x.
# Debian/Ubuntu only; needs root (or sudo). Does nothing when both are already there.
set -euo pipefail

source "$(dirname "$0")/apt-tools.sh"
apt_tools install-etcd etcd=etcd-server etcdctl=etcd-client
sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
fi
# The package's own service is never what the bench runs (it starts its three members itself), and
# Debian's postinst may start a single-node etcd on 2379: stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    "${sudo[@]}" systemctl stop etcd || true
fi
