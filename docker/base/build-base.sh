#!/usr/bin/env bash
# Build a Python 3.11 base image from Debian packages, without any container registry.
#
# For hosts that cannot pull `python:3.11-slim-bookworm` (air-gapped sites, CI behind a proxy).
# The result behaves like the official image where the project's Dockerfiles care:
# `python` and `pip` on PATH (a venv at /opt/venv, so Debian's PEP 668 block does not apply),
# apt available, and TLS that trusts the host's extra CA certificates (a re-signing proxy or a
# site CA), so `pip install` works inside `docker build`.
#
#   docker/base/build-base.sh [--tag NAME:TAG] [--suite SUITE] [--mirror URL] [--ca-dir DIR]
#
# It remembers the base for the checkout it belongs to: it writes `BASE_IMAGE ?= NAME:TAG` to
# local.mk (git-ignored; --no-remember skips that), which the Makefile reads, so later `make`
# commands use this base without BASE_IMAGE= on each (a BASE_IMAGE you pass still wins).
#
# Needs root, debootstrap and a running Docker daemon. Takes about a minute.
set -euo pipefail

TAG=local/bookworm-python:3.11
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
CA_DIR=/usr/local/share/ca-certificates
REMEMBER=1
LOCAL_MK=$(cd "$(dirname "$0")/../.." && pwd)/local.mk

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<EOF
Options:
  --tag NAME:TAG        image to create (default: $TAG)
  --suite SUITE         Debian release; its python3 must be 3.11 for the locks (default: $SUITE)
  --mirror URL          Debian mirror, e.g. a site mirror when air-gapped (default: $MIRROR)
  --security-mirror URL Debian security mirror, or "" to leave it out (default: $SECURITY_MIRROR)
  --ca-dir DIR          extra CA certificates (*.crt) to trust (default: $CA_DIR, if present)
  --no-remember         do not write BASE_IMAGE to $LOCAL_MK
EOF
}

die() { echo "build-base: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
        --suite) SUITE=${2:?--suite needs a value}; shift 2 ;;
        --mirror) MIRROR=${2:?--mirror needs a value}; shift 2 ;;
        --security-mirror) SECURITY_MIRROR=${2-}; shift 2 ;;
        --ca-dir) CA_DIR=${2:?--ca-dir needs a value}; shift 2 ;;
        --no-remember) REMEMBER=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run it with sudo: sudo $0 $*"
command -v debootstrap >/dev/null || die "debootstrap is not installed (Debian/Ubuntu: apt-get install debootstrap)."
command -v docker >/dev/null || die "the docker client is not installed."
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is dockerd running?)."

ROOTFS=$(mktemp -d /var/tmp/tensorweaver-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
t0=$SECONDS

echo "build-base: debootstrap $SUITE from $MIRROR"
# minbase: only essential packages + apt. python3-venv brings ensurepip's bundled pip wheel.
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; die "debootstrap failed (see above)."; }
rm -f "$ROOTFS.log"

# The same apt sources as a Debian image, so Dockerfiles can apt-get install (tini, gcc).
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    if [[ -n $SECURITY_MIRROR ]]; then echo "deb $SECURITY_MIRROR $SUITE-security main"; fi
} >"$ROOTFS/etc/apt/sources.list"

# Trust the host's extra CA certificates (only *.crt is read by update-ca-certificates).
shopt -s nullglob
certs=("$CA_DIR"/*.crt)
if [[ ${#certs[@]} -gt 0 ]]; then
    echo "build-base: trusting ${#certs[@]} extra CA certificate(s) from $CA_DIR"
    cp "${certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
fi
chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the new root."

# A venv first on PATH: `python`/`pip` work like in the official image, and pip installs there.
# Without setuptools, which Python 3.11's venv adds: images that need it pin their own.
chroot "$ROOTFS" python3 -m venv /opt/venv
chroot "$ROOTFS" /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools
python_version=$(chroot "$ROOTFS" /opt/venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ $python_version == 3.11 ]] \
    || echo "build-base: warning: $SUITE has Python $python_version; the requirement locks are made for 3.11." >&2

# Slim it the way Debian's and Python's slim images are: no documentation, manual pages or
# translations (licences stay), and apt keeps no package caches. The settings stay in the
# image, so that later `apt-get install` steps in Dockerfiles stay slim too.
printf '%s\n' \
    'path-exclude /usr/share/doc/*' \
    'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/groff/*' \
    'path-exclude /usr/share/lintian/*' \
    'path-exclude /usr/share/locale/*' \
    >"$ROOTFS/etc/dpkg/dpkg.cfg.d/slim"
clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true'
printf '%s\n' \
    "DPkg::Post-Invoke { \"$clean\"; };" \
    "APT::Update::Post-Invoke { \"$clean\"; };" \
    'Dir::Cache::pkgcache "";' \
    'Dir::Cache::srcpkgcache "";' \
    >"$ROOTFS/etc/apt/apt.conf.d/docker-clean"
(
    cd "$ROOTFS" || exit 1   # every path below is inside the new root, never the host's
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
    find usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf usr/share/man/* usr/share/info/* usr/share/groff/* usr/share/lintian/* \
           usr/share/locale/* var/lib/apt/lists/* var/cache/apt/*.bin \
           var/cache/apt/archives/*.deb var/log/*.log tmp/*
)

bundle=/etc/ssl/certs/ca-certificates.crt
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV VIRTUAL_ENV=/opt/venv" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV SSL_CERT_FILE=$bundle" \
    --change "ENV REQUESTS_CA_BUNDLE=$bundle" \
    --change "ENV PIP_CERT=$bundle" \
    --change "LABEL org.opencontainers.image.description=\"Debian $SUITE + Python $python_version venv, built by docker/base/build-base.sh\"" \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null

size=$(docker image inspect --format '{{.Size}}' "$TAG")
echo "build-base: $TAG ready ($((size / 1000000)) MB, Python $python_version) in $((SECONDS - t0)) s"
if [[ $REMEMBER == 1 ]]; then
    {
        echo "# Written by docker/base/build-base.sh: the base image of this checkout's images."
        echo "# A BASE_IMAGE given to make (or in the environment) still wins. Delete to forget."
        echo "BASE_IMAGE ?= $TAG"
    } >"$LOCAL_MK"
    # Under sudo, leave the file to the user who owns the checkout.
    chown --reference="$(dirname "$LOCAL_MK")" "$LOCAL_MK" 2>/dev/null || true
    echo "build-base: later make commands in this checkout use it (written to $LOCAL_MK)"
fi
