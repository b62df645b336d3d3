#!/usr/bin/env bash
# Installs the user-space NBD clients the NBD bridge is tested against (docs/BLK.md "NBD bridge"):
#   qemu-img (qemu-utils), nbdinfo/nbdcopy/nbdsh (libnbd-bin), fio (with its nbd engine), nbdkit.
# Debian/Ubuntu only; needs root (or sudo). Does nothing when every tool is already there.
# The tests do the same on their own (DebianTools.require in dmsg-services' tests).
set -euo pipefail
source "$(dirname "$0")/apt-tools.sh"
apt_tools install-nbd-tools qemu-img=qemu-utils nbdinfo=libnbd-bin nbdcopy=libnbd-bin fio=fio nbdkit=nbdkit
