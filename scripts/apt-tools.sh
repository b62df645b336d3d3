#!/usr/bin/env bash
# Shared by the install-*.sh scripts: installs the Debian packages of the tools that are missing.
#   source scripts/apt-tools.sh; apt_tools NAME TOOL=PACKAGE...
# Debian/Ubuntu only; needs root (or sudo). Does nothing when every tool is already there; says
# on stderr what to run by hand when it cannot install, and returns 1.
apt_tools() {
    local name=$1
    shift
    local missing=() have=() pair tool pkg
    for pair in "$@"; do
        tool=${pair%%=*}
        pkg=${pair#*=}
        if command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/bin/$tool" ] || [ -x "/usr/sbin/$tool" ]; then
            have+=("$tool")
        else
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "$name: ${have[*]} already installed"
        return 0
    fi
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$name: no apt-get here; install these packages by hand: ${missing[*]}" >&2
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "$name: not root and no sudo; as root run: apt-get install -y ${missing[*]}" >&2
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "$name: installing ${missing[*]}"
    # A fresh machine's package lists may be empty or stale: update first, then install.
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}
