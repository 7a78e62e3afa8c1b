#!/usr/bin/env bash
# Make sure the programs the tests drive are installed: Chromium (for Playwright) and the
# peer clients netcat-openbsd, tftp-hpa, atftp, curl and tshark (and nftables for the
# lossy-network tests). A missing one is
# installed (Playwright's own Chromium first, then Debian's packages as root); if that is
# impossible this script fails: in this project a missing peer is an error, never a skip.
set -euo pipefail
python="${1:-python3}"
here="$(cd "$(dirname "$0")/.." && pwd)"
missing=()

command -v nc >/dev/null && nc -h 2>&1 | grep -q -- "-N" || missing+=(netcat-openbsd)
command -v tftp >/dev/null && (tftp -V 2>&1 || true) | grep -qi "tftp-hpa" || missing+=(tftp-hpa)
command -v atftp >/dev/null || missing+=(atftp)
command -v curl >/dev/null || missing+=(curl)
command -v tshark >/dev/null || missing+=(tshark)
[ -x /usr/sbin/in.tftpd ] || missing+=(tftpd-hpa)  # the peer server of the client tests and bench/tftp.py
command -v nft >/dev/null || missing+=(nftables)  # the lossy network namespace of test_tftp_faults.py
command -v logger >/dev/null || missing+=(bsdutils)  # util-linux logger: a native syslog sender (test_syslog_live.py)
command -v redis-server >/dev/null || missing+=(redis-server)  # the --bus redis:// tests (tests/redis_server.py)

if ! "$python" "$here/browser.py" >/dev/null; then
  echo "ensure_peers: no Chromium found; trying 'playwright install chromium'" >&2
  timeout 300 "$python" -m playwright install chromium >/dev/null 2>&1 || true
  "$python" "$here/browser.py" >/dev/null || missing+=(chromium)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure_peers: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "ensure_peers: installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  # tftpd-hpa's package would start a daemon on port 69, sockdash's default: start no service
  policy_made=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_made=1
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  [ -n "$policy_made" ] && rm -f /usr/sbin/policy-rc.d
fi
echo "ensure_peers: chromium at $("$python" "$here/browser.py")" >&2
