#!/usr/bin/env bash
# Installs systemd-analyze (Debian's systemd package), with which dmsg-cli's ReleaseArchiveIT
# checks the release archive's unit file (systemd-analyze verify; docs/INSTALL.md). Debian/Ubuntu
# only. Does nothing when it is already there; the package is not started by installing it in a
# container. Without it the check skips itself and says why.
set -euo pipefail
source "$(dirname "$0")/apt-tools.sh"
apt_tools install-systemd-analyze systemd-analyze=systemd
