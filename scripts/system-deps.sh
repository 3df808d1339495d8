#!/usr/bin/env bash
# Installs the Debian packages the tests need (browser, Redis, nginx, chattr), when
# missing and when we may. Tests start their own servers; none is enabled.
set -euo pipefail
packages=(chromium fonts-noto-cjk redis-server nginx-light e2fsprogs)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: not root; install these for the browser, Redis, nginx and store-fault tests: ${missing[*]}" >&2
    exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
