#!/usr/bin/env bash
# Checks the OCI image tar that `mvn -Pimage package` made (docs/INSTALL.md, "A container image")
# where there is no container runtime: unpacks its layers in order into a root file system and runs
# the image's entrypoint there with chroot in new mount and pid namespaces (as a runtime would, with
# /proc mounted): `--version`, then a node that must say "listening on". Needs root and python3.
# Usage: scripts/check-image.sh [dmsg-cli/target/dmsg-image-VERSION.tar]
set -euo pipefail
tar_file=${1:-$(ls "$(dirname "$0")"/../dmsg-cli/target/dmsg-image-*.tar | head -1)}
work=$(mktemp -d)
trap 'umount "$work/root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/oci" "$work/root"
tar xf "$tar_file" -C "$work/oci"
# the manifest's layers in order, and the config's entrypoint (one argument per line)
python3 - "$work" <<'PY'
import json, sys, os
work = sys.argv[1]
oci = os.path.join(work, "oci")
def blob(d):
    return os.path.join(oci, "blobs", *d.split(":"))
index = json.load(open(os.path.join(oci, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))["config"]
open(os.path.join(work, "layers"), "w").write("\n".join(blob(l["digest"]) for l in manifest["layers"]) + "\n")
open(os.path.join(work, "entrypoint"), "w").write("\n".join(config["Entrypoint"]) + "\n")
print("image: entrypoint", " ".join(config["Entrypoint"]), "| args", " ".join(config.get("Cmd", [])),
      "| ports", " ".join(config.get("ExposedPorts", {})), "| user", config.get("User", "root"))
PY
while read -r layer; do tar xzf "$layer" --warning=no-unknown-keyword -C "$work/root"; done < "$work/layers"
mkdir -p "$work/root/proc"
mapfile -t entry < "$work/entrypoint"
run() { unshare -m -p -f sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$work/root" "${entry[@]}" "$@"; }
run --version
run node --listen 127.0.0.1:0 --label image-check --data-dir /var/lib/dmsg >"$work/node.log" 2>&1 &
node=$!
for _ in $(seq 1 300); do
    grep -q 'listening on' "$work/node.log" && break
    kill -0 "$node" 2>/dev/null || break
    sleep 0.1
done
cat "$work/node.log"
grep -q 'listening on' "$work/node.log" || { echo "check-image: the node did not start" >&2; exit 1; }
kill -TERM "$node"; wait "$node" || true
echo "check-image: ok"
