#!/bin/sh
# Run INSIDE the controller image by deploy/build-image.sh --verify: as the image's user, its root
# filesystem read-only, /tmp a fresh writable mount (the Deployment's emptyDir), loopback only.
# Checks what the Deployment and the migration Job rely on; exits non-zero on the first failure.
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }
cd /tmp

echo "-- fedctl --version: $(fedctl --version)"

uid=$(id -u)
[ "$uid" != 0 ] || fail "running as root"
caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
[ "$caps" = 0000000000000000 ] || fail "effective capabilities $caps"
echo "-- user $(id -u):$(id -g), no capabilities"

for dir in / /opt/fedctl /etc /usr; do
  if touch "$dir/.fedctl-write-test" 2>/dev/null; then fail "$dir is writable"; fi
done
touch /tmp/.fedctl-write-test || fail "/tmp is not writable"
echo "-- root filesystem read-only, /tmp writable"

# the migration Job: fedctl db upgrade (the Job's args), then the revision it reached
export FEDCTL_DATABASE_URL=sqlite:////tmp/fedctl.db
fedctl --log-format json db upgrade
current=$(fedctl db current)
echo "-- db current: $current"
case "$current" in *"(head)"*|*head*) ;; *) fail "db current does not report the head revision" ;; esac

# the controller: a simulated host cluster (from this image), the CRDs and the namespace an operator
# applies, then `fedctl run` as the Deployment starts it until /readyz answers 200
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
WEB=$(free_port)
DNSPORT=$(free_port)
fedctl sim kube --cluster host --out /tmp/sim --rollout-delay 0.2 >/tmp/sim.log 2>&1 &
SIM=$!
CTL=""
stop() {
  [ -z "$CTL" ] || kill "$CTL" 2>/dev/null || true
  kill "$SIM" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
i=0
until [ -s /tmp/sim/host.kubeconfig ]; do
  i=$((i + 1)); [ $i -lt 300 ] || { cat /tmp/sim.log >&2; fail "the simulated host cluster did not start"; }
  sleep 0.1
done
python3 - /tmp/sim/host.kubeconfig <<'EOF'
import asyncio
import sys
from pathlib import Path

from federation.api.crdgen import all_crds
from federation.clusters.kubeapi import KubeApi
from federation.sandbox.wiring import CRDS, ensure_namespace


async def main() -> None:
    api = await KubeApi.from_kubeconfig_file(Path(sys.argv[1]))
    try:
        for crd in all_crds():
            await api.create(CRDS, crd)
        await ensure_namespace(api, "federation-system")
    finally:
        await api.close()


asyncio.run(main())
EOF
FEDCTL_WEB_LISTEN=127.0.0.1:$WEB FEDCTL_DNS_LISTEN=127.0.0.1:$DNSPORT POD_NAME=verify-0 \
  fedctl --log-format json run --namespace federation-system --kubeconfig /tmp/sim/host.kubeconfig \
  >/tmp/run.log 2>&1 &
CTL=$!
python3 - "$WEB" <<'EOF' || { tail -40 /tmp/run.log >&2; fail "the controller did not become ready"; }
import sys
import time
import urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
url = f"http://127.0.0.1:{sys.argv[1]}/readyz"
deadline = time.monotonic() + 90
last = "no answer"
while time.monotonic() < deadline:
    try:
        with opener.open(url, timeout=2) as resp:
            if resp.status == 200:
                print(f"-- {url}: {resp.status} {resp.read().decode().strip()}")
                sys.exit(0)
    except OSError as exc:
        last = str(exc)
    time.sleep(0.5)
print(f"{url}: {last}", file=sys.stderr)
sys.exit(1)
EOF
kill -0 "$CTL" 2>/dev/null || fail "the controller exited"
if grep -E 'Read-only file system|Permission denied' /tmp/run.log; then fail "the controller tried to write outside /tmp"; fi
echo "-- the controller is ready on a read-only root filesystem"
