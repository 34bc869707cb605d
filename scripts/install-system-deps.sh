#!/usr/bin/env bash
# Installs the Debian packages Harken needs. Does nothing when they are all present,
# so it is cheap to run before every start or test run. Retries while another
# apt/dpkg holds the lock (common on fresh machines running unattended upgrades).
set -euo pipefail

# build-essential + python3: node-gyp builds better-sqlite3 when no prebuilt binary can be downloaded.
# libpocketsphinx3 + pocketsphinx-en-us: the embedded speech recogniser and its English model.
# libflite1 + flite: the embedded speech synthesiser (library in-process; the CLI for diagnostics).
# bzip2: unpacking downloaded model archives (.tar.bz2).
# espeak-ng-data: phoneme data for Piper/VITS voices run through sherpa-onnx.
# chromium: the browser the web app tests drive (playwright-core).
# nginx, openssl: the deployment kit's reverse proxy, tested in front of Harken with a self-signed certificate.
# nftables, iptables, iproute2: `harken doctor` reads the firewall (tested in a network namespace).
# systemd: `systemd-analyze verify` checks deploy/harken.service.
# ffmpeg: OpenAI-compatible uploads in any format (mp3, m4a, ogg, webm) and speech as mp3/opus/aac/flac.
PACKAGES=(build-essential python3 ca-certificates libpocketsphinx3 pocketsphinx-en-us libflite1 flite bzip2 espeak-ng-data chromium nginx openssl nftables iptables iproute2 systemd ffmpeg)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${PACKAGES[*]})"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system packages missing (${missing[*]}) and not root: install them with apt-get as root" >&2
    exit 1
  fi
fi

apt_retry() {
  local attempt
  for attempt in 1 2 3 4 5 6; do
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@"; then return 0; fi
    echo "apt-get $1 failed (attempt $attempt); retrying in 10 s" >&2
    sleep 10
  done
  return 1
}

echo "system packages: installing ${missing[*]}"
apt_retry update -q
apt_retry install -y -q --no-install-recommends "${missing[@]}"
