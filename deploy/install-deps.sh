#!/bin/sh
# Installs the Debian 12 packages c2watch needs to build, test and run its
# demo, when any is missing. Uses sudo when not root. A no-op once installed.
set -eu
PKGS="build-essential pkg-config librdkafka-dev libyajl-dev libyaml-dev zlib1g-dev libcriterion-dev python3 kcat docker-compose"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
