#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian 12 machine (run as root):
# the UML kernel lab, real protocol peers (wpa_supplicant, FreeRADIUS, hostapd, OVS), capture
# tools, protoc, and the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  user-mode-linux kmod iproute2 iputils-ping jq   # real 6.1 kernel with macsec, run as a process
  wpasupplicant hostapd freeradius                 # peers we did not write
  openvswitch-switch                               # bridge the agent attaches secured ports to
  tcpdump tshark                                   # captures and an independent MKPDU dissector
  libpcap-dev protobuf-compiler openssl bc         # node_pcap build, protoc, test PKI, scripts
  python3-grpcio python3-yaml                      # OSM-LCM-like gRPC test client
  etcd-server                                      # the shared store of manager replicas
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -q
  apt-get install -y -q "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "setup: done"
