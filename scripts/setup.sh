#!/usr/bin/env bash
# One command for a fresh machine: install Chromium (and the test suite's system packages) when missing, install the packages,
# build, and run the demo (three concurrent sessions driven by Puppeteer).
set -euo pipefail
cd "$(dirname "$0")/.."

have_chrome() {
  [ -n "${CHROME_PATH:-}" ] && [ -x "${CHROME_PATH}" ] && return 0
  for p in /usr/lib/chromium/chromium-headless-shell /usr/bin/chromium-headless-shell /usr/bin/chromium \
           /usr/bin/chromium-browser /usr/bin/google-chrome /usr/bin/google-chrome-stable; do
    [ -x "$p" ] && return 0
  done
  return 1
}

# What the library and its tests need from Debian: Chromium (full and headless-shell), chromedriver
# and Java for the Selenium Grid tests, ffmpeg for recordings' optional video, openssl and unshare
# (util-linux) for the HSTS and DNS isolation tests.
missing=()
have_chrome || missing+=(chromium chromium-headless-shell)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v openssl >/dev/null || missing+=(openssl)
command -v unshare >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing from Debian: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# No browser download: puppeteer (a peer of the benchmark's puppeteer-cluster) must not fetch one.
export PUPPETEER_SKIP_DOWNLOAD=1
npm ci --no-audit --no-fund
npm run build
[ "${SETUP_SKIP_DEMO:-}" = "1" ] || npm run demo
