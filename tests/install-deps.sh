#!/bin/sh
# Installs the Debian 12 packages that zsp needs to build and test. Runs
# apt-get only when a package is missing, so repeated runs are quick.
set -eu
packages="g++ make pkg-config libpam0g-dev sudo libcurl4-openssl-dev
libssl-dev libsystemd-dev systemd libcppunit-dev pamtester libpam-wrapper
nlohmann-json3-dev libsqlite3-dev libcpp-httplib-dev libtoml11-dev openssl
curl
util-linux iproute2 binutils openssh-server openssh-client
clang libclang-rt-14-dev sqlite3 jq valgrind libpam-runtime man-db
groff-base"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing; run as root" >&2
  exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
