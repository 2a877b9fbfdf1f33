#!/usr/bin/env bash
# Builds the controller image from deploy/Dockerfile with buildah (no container daemon: chroot
# isolation) and, with --verify, runs what was built the way the Deployment does: as the image's
# own non-root user, on a read-only root filesystem with a writable /tmp, no capabilities.
#
#   deploy/build-image.sh [--tag IMAGE] [--base-image IMAGE | --local-base] [--verify | --verify-only]
#
#   --tag IMAGE         name of the result (default localhost/fedctl:<version>)
#   --base-image IMAGE  the Dockerfile's BASE_IMAGE (default docker.io/library/python:3.11-slim-bookworm)
#   --local-base        no registry: debootstrap Debian bookworm + python3 (3.11) from the Debian mirror
#                       (DEBIAN_MIRROR) and import it as localhost/fedctl-base:bookworm, made once
#   --verify            after the build: fedctl --version, the user is not root, the root is read-only,
#                       `fedctl db upgrade` on SQLite in /tmp, and `fedctl run` against a simulated
#                       host cluster (started from the image too) until /readyz answers
#   --verify-only       the checks of --verify on an image built before (--tag), no build
#
# Needs root and the Debian packages buildah (and debootstrap for --local-base). Storage: buildah's
# default (/var/lib/containers/storage, overlay where the kernel has it); STORAGE_DRIVER=vfs forces
# plain copies. Builds use chroot isolation (no OCI runtime, no daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' federation/__init__.py)
TAG=localhost/fedctl:${VERSION}
BASE_IMAGE=""
LOCAL_BASE=0
VERIFY=0
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --base-image) BASE_IMAGE=$2; shift 2 ;;
    --local-base) LOCAL_BASE=1; shift ;;
    --verify) VERIFY=1; shift ;;
    --verify-only) VERIFY=1; BUILD=0; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "build-image.sh: run as root (buildah chroot isolation and debootstrap need it)" >&2; exit 2; }
command -v buildah >/dev/null || { echo "build-image.sh: buildah is missing: apt-get install buildah" >&2; exit 2; }

export BUILDAH_ISOLATION=chroot
# buildah 1.28 reads no STORAGE_DRIVER variable: pass it as the global flag
buildah() { command buildah ${STORAGE_DRIVER:+--storage-driver "$STORAGE_DRIVER"} "$@"; }
SCRATCH=$(mktemp -d /tmp/fedctl-image.XXXXXX)
CTR=""
cleanup() {
  [ -z "$CTR" ] || buildah rm "$CTR" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
step() { echo "== $* ($(date +%T))"; }

if [ "$BUILD" = 1 ] && [ "$LOCAL_BASE" = 1 ]; then
  BASE_IMAGE=localhost/fedctl-base:bookworm
  if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    step "base $BASE_IMAGE exists (buildah rmi it to make it again)"
  else
    command -v debootstrap >/dev/null || { echo "build-image.sh: apt-get install debootstrap" >&2; exit 2; }
    step "debootstrap bookworm (minbase + python3, python3-venv, ca-certificates)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$SCRATCH/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$SCRATCH/debootstrap.log" 2>&1 \
      || { tail -20 "$SCRATCH/debootstrap.log" >&2; exit 1; }
    # what a slim base leaves out: package caches and lists, docs, man pages, locales
    rm -rf "$SCRATCH"/rootfs/var/cache/apt/archives/*.deb "$SCRATCH"/rootfs/var/lib/apt/lists/* \
      "$SCRATCH"/rootfs/usr/share/doc/* "$SCRATCH"/rootfs/usr/share/man/* "$SCRATCH"/rootfs/usr/share/locale/*
    step "import the root filesystem as $BASE_IMAGE"
    tar -C "$SCRATCH/rootfs" --numeric-owner -cf "$SCRATCH/rootfs.tar" .
    rm -rf "$SCRATCH/rootfs"
    CTR=$(buildah from scratch)
    buildah add --quiet "$CTR" "$SCRATCH/rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --env LANG=C.UTF-8 --cmd python3 "$CTR"
    buildah commit --quiet "$CTR" "$BASE_IMAGE" >/dev/null
    buildah rm "$CTR" >/dev/null
    CTR=""
    rm -f "$SCRATCH/rootfs.tar"
  fi
fi

build_args=()
[ -z "$BASE_IMAGE" ] || build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -z "${PIP_INDEX_URL:-}" ] || build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
# pip in the build trusts the host's CA bundle (PIP_CERT, else SSL_CERT_FILE, else Debian's), so a
# TLS-intercepting proxy the host trusts works too; mounted for the RUN steps only, in no layer.
PIP_CERT=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -f "$PIP_CERT" ]; then
  build_args+=(--volume "$PIP_CERT:/run/fedctl-build-ca.crt:ro" --build-arg PIP_CERT=/run/fedctl-build-ca.crt)
fi
if [ "$BUILD" = 1 ]; then
  step "buildah build -f deploy/Dockerfile -t $TAG${BASE_IMAGE:+ (BASE_IMAGE=$BASE_IMAGE)}"
  OLD_ID=$(buildah inspect --type image --format '{{.FromImageID}}' "$TAG" 2>/dev/null || true)
  buildah build --isolation chroot --layers=false -f deploy/Dockerfile -t "$TAG" "${build_args[@]}" "$ROOT"
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$TAG"
  # the previous build of this tag is now untagged: remove it
  NEW_ID=$(buildah inspect --type image --format '{{.FromImageID}}' "$TAG")
  if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then buildah rmi "$OLD_ID" >/dev/null 2>&1 || true; fi
fi

[ "$VERIFY" = 1 ] || exit 0

step "verify $TAG"
USER_SPEC=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$TAG")
ENTRY=$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$TAG")
case "$USER_SPEC" in
  ''|0|0:*|root|root:*) echo "FAIL: the image runs as root (USER '$USER_SPEC')" >&2; exit 1 ;;
esac
case "$USER_SPEC" in
  *[!0-9:]*) echo "FAIL: USER '$USER_SPEC' is not numeric (runAsNonRoot cannot check a name)" >&2; exit 1 ;;
esac
[ "$ENTRY" = '[fedctl]' ] || { echo "FAIL: entrypoint is $ENTRY, want [fedctl]" >&2; exit 1; }
echo "user $USER_SPEC, entrypoint $ENTRY"
CTR=$(buildah from --pull-never "$TAG")
MNT=$(buildah mount "$CTR")
# The image's environment (PATH, HOME, FEDCTL_MIGRATIONS_DIR, ...) for the commands run inside it.
mapfile -t IMAGE_ENV < <(buildah inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$TAG" | sed '/^$/d')
cp deploy/verify-image.sh "$SCRATCH/verify-image.sh"
# A private mount namespace: the image's root bound read-only, a fresh /tmp (the emptyDir), /proc and
# /dev; then chroot as the image's user (its uid has no capabilities) with the image's environment.
unshare --mount --pid --fork --propagation private /bin/sh -eu -c '
  MNT=$1; shift; SCRIPT=$1; shift; USER_SPEC=$1; shift
  mount --bind "$MNT" "$MNT"
  mount -t proc proc "$MNT/proc"
  mount --rbind /dev "$MNT/dev"
  mount -t tmpfs -o mode=1777,size=256m tmpfs "$MNT/tmp"
  cp "$SCRIPT" "$MNT/tmp/verify-image.sh"
  mount -o remount,bind,ro "$MNT"
  exec chroot --userspec="$USER_SPEC" --groups="" "$MNT" /usr/bin/env -i "$@" /bin/sh /tmp/verify-image.sh
' verify "$MNT" "$SCRATCH/verify-image.sh" "$USER_SPEC" "${IMAGE_ENV[@]}"
step "verified $TAG"
