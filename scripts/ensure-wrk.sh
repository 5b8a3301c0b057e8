#!/bin/sh
# Makes sure Debian's wrk (the HTTP load generator the benchmarks use) is installed.
set -eu
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-wrk: wrk is missing and this is not root; install it with: sudo apt-get install -y wrk" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
