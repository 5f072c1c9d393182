#!/bin/sh
# Installs graft for CI: the release archive of GRAFT_VERSION (checksum verified, `graft
# version` checked), else — when there is no such release (a branch or commit is pinned, or the
# release is not published) — a build from the source in GRAFT_SRC.
#
#   install.sh release   try the release; prints installed=true|false (for $GITHUB_OUTPUT);
#                        exits non-zero only when a release exists but is wrong
#   install.sh source    build from GRAFT_SRC with the Go on PATH
#
# Environment: GRAFT_VERSION (vX.Y.Z[-PRE]; anything else has no release), GRAFT_BIN (folder to
# install into), GRAFT_RELEASE_URL (folder holding the archives and checksums.txt; default
# GitHub's release download URL for GRAFT_VERSION), GRAFT_SRC (the source, for `source`).
set -eu

die() { echo "graft install: $*" >&2; exit 1; }

: "${GRAFT_BIN:?set GRAFT_BIN to the folder to install graft into}"
mkdir -p "$GRAFT_BIN"

fetch() { # fetch URL FILE: 0 ok, 2 not found, else 1
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -sSL --retry 3 -o "$2" -w '%{http_code}' "$1") || return 1
    [ "$code" = 200 ] && return 0
    [ "$code" = 404 ] && return 2
    return 1
  fi
  wget -q -O "$2" "$1" && return 0
  return 2
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

platform() {
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case $(uname -m) in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) arch=unsupported ;;
  esac
  echo "${os}_${arch}"
}

release() {
  v=${GRAFT_VERSION:-}
  if ! printf '%s' "$v" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'; then
    echo "graft install: $v is no release version; building from source" >&2
    echo installed=false
    return 0
  fi
  base=${GRAFT_RELEASE_URL:-https://github.com/graft-build/graft/releases/download/$v}
  archive="graft_${v#v}_$(platform).tar.gz"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  rc=0
  fetch "$base/checksums.txt" "$tmp/checksums.txt" || rc=$?
  if [ "$rc" = 2 ]; then
    echo "graft install: no release $v at $base; building from source" >&2
    echo installed=false
    return 0
  fi
  [ "$rc" = 0 ] || die "download $base/checksums.txt failed"
  fetch "$base/$archive" "$tmp/$archive" || die "download $base/$archive failed (no archive for this platform?)"
  want=$(awk -v f="$archive" '$2 == f { print $1 }' "$tmp/checksums.txt")
  [ -n "$want" ] || die "checksums.txt of $v lists no $archive"
  got=$(sha256 "$tmp/$archive")
  [ "$got" = "$want" ] || die "$archive: sha256 $got, but checksums.txt says $want: refusing it"
  tar -xzf "$tmp/$archive" -C "$tmp" graft
  chmod 0755 "$tmp/graft"
  mv "$tmp/graft" "$GRAFT_BIN/graft"
  line=$("$GRAFT_BIN/graft" version)
  case "$line" in
    "graft $v "*) ;;
    *) rm -f "$GRAFT_BIN/graft"; die "the $v archive's graft says \"$line\"" ;;
  esac
  echo "graft install: $line from $base/$archive (sha256 $got)" >&2
  echo installed=true
}

source_build() {
  : "${GRAFT_SRC:?set GRAFT_SRC to the graft source folder}"
  command -v go >/dev/null 2>&1 || die "no release to install and no Go to build graft from source"
  cd "$GRAFT_SRC"
  # Embed the launchers, as a release does, so builds need no Go toolchain of their own.
  go generate ./cmd/graft
  GOBIN="$GRAFT_BIN" go install ./cmd/graft
  echo "graft install: $("$GRAFT_BIN/graft" version) built from $GRAFT_SRC" >&2
}

case "${1:-}" in
  release) release ;;
  source) source_build ;;
  *) die "usage: install.sh release|source" ;;
esac
