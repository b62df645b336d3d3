#!/usr/bin/env bash
# Installs etcd, the anchor of `dmsg bench quorum` (docs/BENCHMARKS.md "Quorum (issue 16)"):
#   etcd (etcd-server) and etcdctl (etcd-client), Debian's 3.4.x.
# Debian/Ubuntu only; needs root (or sudo). Does nothing when both are already there.
set -euo pipefail

declare -A PACKAGE=([etcd]=etcd-server [etcdctl]=etcd-client)
missing=()
for tool in etcd etcdctl; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/bin/$tool" ]; then
        missing+=("${PACKAGE[$tool]}")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-etcd: etcd and etcdctl are already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-etcd: no apt-get here; install these packages by hand: ${missing[*]}" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-etcd: not root and no sudo; as root run: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-etcd: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -q
# --no-install-recommends, and the package's own service is never what the bench runs: it starts
# its three members itself. Debian's postinst may start a single-node etcd on 2379; stop it.
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    "${SUDO[@]}" systemctl stop etcd || true
fi
