#!/bin/sh
# Installs the Debian 12 packages that zsp needs to build and test. Runs
# apt-get only when a package is missing, so repeated runs are quick.
set -eu
packages="g++ make pkg-config libpam0g-dev sudo libcurl4-openssl-dev
libssl-dev libsodium-dev libsystemd-dev systemd libcppunit-dev pamtester libpam-wrapper
nlohmann-json3-dev libsqlite3-dev libcpp-httplib-dev libtoml11-dev openssl
curl
util-linux iproute2 binutils openssh-server openssh-client dbus-daemon
clang libclang-rt-14-dev sqlite3 jq valgrind libpam-runtime man-db
groff-base nodejs chromium libpq-dev postgresql rpm cpio python3 strace
debhelper lintian dpkg-dev fakeroot"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
# Test-only node tools (an OpenID Connect provider and a browser driver),
# pinned by their package-lock.json; npm ci downloads no browser. They need
# Node.js 20.19 or later (nodejs from NodeSource, which brings npm).
install_node_tools() {
  local dir
  dir="$(cd "$(dirname "$0")" && pwd)/tools/oidc"
  if [ ! -d "$dir/node_modules" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --silent) || return 1
    touch "$dir/node_modules"
  fi
}
if [ -z "$missing" ]; then
  install_node_tools
  exit $?
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing; run as root" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
install_node_tools
