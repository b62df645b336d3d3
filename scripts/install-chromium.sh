#!/usr/bin/env bash
# Installs Chromium (Debian's `chromium`), the real browser dmsg-cli's StatusPageBrowserTest loads
# the status page in (docs/OPERATIONS.md "The status page"), headless. Debian/Ubuntu only; needs
# root (or sudo). Does nothing when it is already there. Without it the browser test skips itself
# and says why, so this script failing does not stop the build: .ci/run says so and goes on.
set -euo pipefail
source "$(dirname "$0")/apt-tools.sh"
# The test needs no fonts beyond what the package pulls in; --no-install-recommends keeps it small.
apt_tools install-chromium chromium=chromium
