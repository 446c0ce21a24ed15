#!/usr/bin/env bash
# One command for a fresh Debian 12 machine (run as root): Debian packages, npm dependencies,
# the TypeScript and eBPF build, pmcd and pmproxy running, and the agent installed into pmcd.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"
[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root: it installs packages and a PCP agent" >&2; exit 1; }

# pcp and the kernel tools; xfsprogs/btrfs-progs/nftables/iproute2 serve the tests' workloads
# (loop-mounted filesystems, forced TCP retransmits), chromium the dashboard's browser tests,
# redis-server the many-hosts test (it runs its own redis on a private port; the service the
# package installs is not needed).
PKGS=(pcp clang llvm libbpf-dev bpftool linux-perf make gcc libc6-dev procps
      xfsprogs btrfs-progs nftables iproute2 strace chromium redis-server)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # pcp's post-install calls systemctl, which fails on a machine not booted with systemd.
  # apt runs maintainer scripts with its own PATH (DPkg::Path), so the stub goes there.
  stub=$(mktemp -d)
  printf '#!/bin/sh\nexit 0\n' > "$stub/systemctl"
  chmod +x "$stub/systemctl"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o "DPkg::Path=$stub:/usr/sbin:/usr/bin:/sbin:/bin" "${missing[@]}" >/tmp/pmda-ebpf-apt.log 2>&1 \
    || { tail -30 /tmp/pmda-ebpf-apt.log; exit 1; }
  rm -rf "$stub"
fi

# pmcd and pmproxy through their SysV scripts (no systemd here).
pminfo -h local: pmcd.version >/dev/null 2>&1 || /etc/init.d/pmcd start
pgrep -x pmproxy >/dev/null || /etc/init.d/pmproxy start

npm ci --no-audit --no-fund
npm run build

./Install </dev/null
