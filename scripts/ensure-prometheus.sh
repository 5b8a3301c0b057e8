#!/bin/sh
# Makes sure Debian's Prometheus (prometheus and promtool in /usr/bin) is installed for the tests that
# check alert rules with promtool or scrape the local stack with a real Prometheus.
set -eu

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-prometheus: prometheus/promtool are missing and this is not root." >&2
    echo "ensure-prometheus: install them with: sudo apt-get install -y prometheus" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's maintainer scripts try to start the daemon; there is no init system here, so keep them
# from starting anything: the tests run their own Prometheus processes.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod +x "$POLICY"
    CREATED_POLICY=1
fi
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if [ "$CREATED_POLICY" -eq 1 ]; then
    rm -f "$POLICY"
fi

if ! command -v promtool >/dev/null 2>&1; then
    echo "ensure-prometheus: apt-get finished but promtool is still missing." >&2
    exit 1
fi
echo "ensure-prometheus: installed $(promtool --version 2>&1 | head -n 1)"
