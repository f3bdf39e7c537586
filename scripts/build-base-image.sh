#!/usr/bin/env bash
# Build the local fallback base image `ragomics/base-debian:bookworm` from Debian packages.
#
# Used by scripts/build-image.sh when no public Python image can be pulled (no container
# registry reachable). debootstrap installs a minimal Debian bookworm with its python3 (3.11)
# from the machine's own apt mirror, and `docker import` turns the folder into an image.
#
# Idempotent: the image carries the label org.ragomics.base.hash = hash of this script; when the
# tag exists with the same hash, nothing is done.
#
# Env: BASE_DEBIAN_TAG (default ragomics/base-debian:bookworm), DEBIAN_MIRROR (default: read
# from the machine's apt sources), FORCE=1 to rebuild anyway.
set -euo pipefail

TAG="${BASE_DEBIAN_TAG:-ragomics/base-debian:bookworm}"
SUITE=bookworm
# Beyond python3: libstdc++6/libgomp1 for the manylinux wheels (leidenalg, igraph, scikit-learn),
# tzdata and ca-certificates for sane defaults. Everything else the wheels bundle.
PACKAGES="python3,python3-venv,python3-pip,ca-certificates,libgomp1,libstdc++6,tzdata"

log() { echo "[build-base-image] $*" >&2; }
die() { echo "[build-base-image] ERROR: $*" >&2; exit 1; }

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  die "Docker engine not reachable: run scripts/ensure-docker.sh"
fi

SCRIPT_HASH="$( { cat "${BASH_SOURCE[0]}"; echo "$PACKAGES"; } | sha256sum | cut -c1-16)"

if [[ "${FORCE:-0}" != 1 ]]; then
  existing="$(docker image inspect --format '{{ index .Config.Labels "org.ragomics.base.hash" }}' "$TAG" 2>/dev/null || true)"
  if [[ "$existing" == "$SCRIPT_HASH" ]]; then
    log "$TAG is up to date (hash $SCRIPT_HASH)"
    echo "$TAG"
    exit 0
  fi
fi

# The mirror: from the machine's apt sources (deb822 `URIs:` or one-line `deb URL suite ...`),
# the first one that serves the main archive (not -security). Never hard-coded here.
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk '
      BEGIN { RS=""; FS="\n" }
      {
        uri=""; suites=""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri=u[1] }
          if ($i ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", $i); suites=$i }
        }
        if (uri != "" && uri !~ /security/ && suites ~ /(^| )bookworm( |$)/) { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; exit } }' "$f"
  done
}
MIRROR="${DEBIAN_MIRROR:-$(find_mirror | head -n1)}"
[[ -n "$MIRROR" ]] || die "no Debian mirror found in /etc/apt/sources*; set DEBIAN_MIRROR"

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq debootstrap >/dev/null
fi
DEBOOTSTRAP="$(command -v debootstrap || echo /usr/sbin/debootstrap)"

KEYRING_ARGS=()
if [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
  KEYRING_ARGS=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
fi

WORK="$(mktemp -d /var/tmp/ragomics-base.XXXXXX)"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
# A stopped build (the demo stops its background image build when it fails) still cleans up.
trap 'exit 143' TERM INT
ROOTFS="$WORK/rootfs"

t0=$SECONDS
log "debootstrap $SUITE from $MIRROR (packages: $PACKAGES)"
if ! "$DEBOOTSTRAP" --variant=minbase "${KEYRING_ARGS[@]}" --include="$PACKAGES" \
      "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -n 30 "$WORK/debootstrap.log" >&2
  die "debootstrap failed (see above)"
fi
log "debootstrap done in $((SECONDS - t0)) s"

# Slim the tree: package caches and lists are not needed at run time.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
# Keep the apt sources pointing at the same mirror so a derived image could apt-get.
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"

t1=$SECONDS
log "docker import -> $TAG"
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change "LABEL org.ragomics.base.hash=$SCRIPT_HASH" \
  --change "LABEL org.opencontainers.image.title=ragomics-base-debian" \
  --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase with python3 (scripts/build-base-image.sh)\"" \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change 'CMD ["/bin/bash"]' \
  - "$TAG" >/dev/null
log "import done in $((SECONDS - t1)) s; total $((SECONDS - t0)) s"
echo "$TAG"
