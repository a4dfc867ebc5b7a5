#!/usr/bin/env bash
# Installs Debian's Chromium (and CJK fonts) for the browser tests when it is missing and we may use apt.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
else
  echo "note: /usr/bin/chromium is missing and apt-get is not usable; the browser tests will be skipped" >&2
  echo "      (Debian/Ubuntu: sudo apt-get install chromium fonts-noto-cjk)" >&2
fi
exit 0
