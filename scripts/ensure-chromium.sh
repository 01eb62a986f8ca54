#!/usr/bin/env bash
# Make sure Debian's chromium (for the site's browser tests) is present.
# Installs it with apt-get when run as root; otherwise says how, and the browser tests skip.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium for the browser tests (apt-get)..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "warning: /usr/bin/chromium not found and not root; browser tests will be skipped." >&2
  echo "         install it with: sudo apt-get install -y chromium chromium-driver" >&2
fi
