#!/usr/bin/env bash
# Installs the user-space NBD clients the NBD bridge is tested against (docs/BLK.md "NBD bridge"):
#   qemu-img (qemu-utils), nbdinfo/nbdcopy/nbdsh (libnbd-bin), fio (with its nbd engine), nbdkit.
# Debian/Ubuntu only; needs root (or sudo). Does nothing when every tool is already there.
# The tests do the same on their own (DebianTools.require in dmsg-services' tests).
set -euo pipefail

declare -A PACKAGE=([qemu-img]=qemu-utils [nbdinfo]=libnbd-bin [nbdcopy]=libnbd-bin [fio]=fio [nbdkit]=nbdkit)
missing=()
for tool in qemu-img nbdinfo nbdcopy fio nbdkit; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/bin/$tool" ]; then
        missing+=("${PACKAGE[$tool]}")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-nbd-tools: qemu-img, nbdinfo, nbdcopy, fio and nbdkit are already installed"
    exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-nbd-tools: no apt-get here; install these packages by hand: ${missing[*]}" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-nbd-tools: not root and no sudo; as root run: apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-nbd-tools: installing ${missing[*]}"
# A fresh machine's package lists may be empty or stale: update first, then install.
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
