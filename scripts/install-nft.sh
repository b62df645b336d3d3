#!/usr/bin/env bash
# Installs nftables (nft), which dmsg-cli's QuorumPartitionProcessTest uses to partition quorum
# members in network namespaces (docs/QUORUM.md §8). Debian/Ubuntu only. Does nothing when nft is
# already there. Not root (and no sudo): says so and exits 0, since without root the test cannot
# make namespaces anyway and skips itself.
set -euo pipefail

if command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ]; then
    echo "install-nft: nft is already installed"
    exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "install-nft: not root; the namespace partition test will skip (as root: apt-get install -y nftables)"
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-nft: no apt-get here; install nftables by hand" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-nft: installing nftables"
"${SUDO[@]}" apt-get update -q
# Only the nft tool is used; Debian's nftables.service is not enabled by the package.
"${SUDO[@]}" apt-get install -y -q --no-install-recommends nftables
