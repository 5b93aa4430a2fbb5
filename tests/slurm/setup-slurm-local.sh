#!/usr/bin/env bash
# Install, configure and start a single-node SLURM (Debian bookworm, slurm 22.05) on 127.0.0.1:
# munged + slurmctld + slurmd, started directly (no systemd). Used by tests/test_slurm.py and CI.
# Idempotent: installs only what is missing, starts only what is not running, and restarts the
# slurm daemons only when the rendered config changed. Needs root (and apt-get unless
# slurm-wlm and munge are installed; setup.sh --test installs them).
#
# Environment:
#   SLURM_CPUS       CPUs of the node (default: nproc)
#   SLURM_REALMEM    RealMemory of the node in MB (default 20000)
#   SLURM_FAKE_GPUS  0 (default): no GRES. N > 0: the node declares N stand-in "gpu" GRES (device
#                    files with /dev/null's numbers, nothing real) so that jobs asking --gpus=N or
#                    --gres=gpu:N are accepted and scheduled on a machine without a GPU.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CPUS="${SLURM_CPUS:-$(nproc)}"
REALMEM="${SLURM_REALMEM:-20000}"
FAKE_GPUS="${SLURM_FAKE_GPUS:-0}"
log() { echo "[slurm-local] $*"; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pid() {  # pidfile: TERM the daemon named in it and wait
  local pid; pid="$(cat "$1")"; kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; rm -f "$1"
}

# 1. packages
missing=""
for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # a policy-rc.d may deny service starts during the install: fine, the daemons are started below
  apt-get install -y -q $missing
fi

# 2. munge (authentication between the slurm daemons and the client commands)
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n </dev/null | unmunge >/dev/null || { log "munge does not work"; exit 1; }
install -d -o slurm -g slurm -m 0755 /run/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm

# 3. slurm.conf (+ gres.conf)
tmp="$(mktemp)"; tmpg="$(mktemp)"
sed -e "s/@CPUS@/${CPUS}/" -e "s/@REALMEM@/${REALMEM}/" "$here/slurm.conf" > "$tmp"
if [ "$FAKE_GPUS" -gt 0 ]; then
  # slurmd 22.05 drops GPUs without a File= ("Removing file-less GPU") and wants character
  # devices: N stand-ins with /dev/null's major/minor (1,3). Nothing is bound; jobs only get
  # CUDA_VISIBLE_DEVICES and are scheduled by GPU count.
  install -d -m 0755 /var/lib/slurm/fakegpu
  for i in $(seq 0 $((FAKE_GPUS - 1))); do
    [ -c /var/lib/slurm/fakegpu/gpu$i ] || mknod /var/lib/slurm/fakegpu/gpu$i c 1 3
  done
  sed -i -e "s/^\(NodeName=localhost .*\) State=UNKNOWN/\1 Gres=gpu:${FAKE_GPUS} State=UNKNOWN/" "$tmp"
  echo "GresTypes=gpu" >> "$tmp"
  echo "NodeName=localhost Name=gpu File=/var/lib/slurm/fakegpu/gpu[0-$((FAKE_GPUS - 1))]" > "$tmpg"
fi
conf_changed=0
if ! cmp -s "$tmp" /etc/slurm/slurm.conf 2>/dev/null; then
  log "writing /etc/slurm/slurm.conf (CPUs=$CPUS RealMemory=$REALMEM stand-in GPUs=$FAKE_GPUS)"
  install -m 0644 "$tmp" /etc/slurm/slurm.conf
  conf_changed=1
fi
if [ -s "$tmpg" ]; then
  cmp -s "$tmpg" /etc/slurm/gres.conf 2>/dev/null || { install -m 0644 "$tmpg" /etc/slurm/gres.conf; conf_changed=1; }
elif [ -e /etc/slurm/gres.conf ]; then
  rm -f /etc/slurm/gres.conf; conf_changed=1
fi
rm -f "$tmp" "$tmpg"

# 4. slurmctld + slurmd
if [ "$conf_changed" = 1 ]; then
  # node definitions (CPUs, memory, GRES) are only read at start
  for d in slurmd slurmctld; do
    if running /run/slurm/$d.pid; then log "config changed: restarting $d"; stop_pid /run/slurm/$d.pid; fi
  done
fi
if ! running /run/slurm/slurmctld.pid; then
  log "starting slurmctld"
  slurmctld          # daemonizes, drops to SlurmUser=slurm
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q "UP" && break; sleep 0.2; done
scontrol ping | grep -q UP || { log "slurmctld not answering"; tail -20 /var/log/slurm/slurmctld.log; exit 1; }
if ! running /run/slurm/slurmd.pid; then
  log "starting slurmd"
  slurmd -N localhost   # node name fixed to 'localhost', whatever the hostname is
fi

# 5. wait for the node
state=""
for _ in $(seq 150); do
  state="$(sinfo -h -n localhost -o %T 2>/dev/null | head -1)"
  case "$state" in idle|mixed|allocated|completing) break ;; esac
  # a node drained under an earlier config (e.g. a GRES mismatch) is brought back
  case "$state" in down*|drain*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;; esac
  sleep 0.2
done
case "$state" in idle|mixed|allocated|completing) ;; *)
  log "node state '$state' after 30 s"; sinfo -R; tail -20 /var/log/slurm/slurmd.log; exit 1 ;;
esac
log "ready: $(sinfo -h -o '%P %a %D %T %c cpus %m MB gres=%G')"
