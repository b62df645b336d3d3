#!/usr/bin/env bash
# Installs nftables (nft), which dmsg-cli's QuorumPartitionProcessTest uses to partition quorum
# members in network namespaces (docs/QUORUM.md §8). Debian/Ubuntu only. Does nothing when nft is
# already there. Not root (and no sudo): says so and exits 0, since without root the test cannot
# make namespaces anyway and skips itself.
set -euo pipefail
source "$(dirname "$0")/apt-tools.sh"

if ! command -v nft >/dev/null 2>&1 && [ ! -x /usr/sbin/nft ] && [ "$(id -u)" -ne 0 ] \
    && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
    echo "install-nft: not root; the namespace partition test will skip (as root: apt-get install -y nftables)"
    exit 0
fi
# Only the nft tool is used; Debian's nftables.service is not enabled by the package.
apt_tools install-nft nft=nftables
