#!/usr/bin/env bash
# Stop the single-node SLURM started by setup-slurm-local.sh: cancel what is queued or running,
# then stop each daemon named in its own pid file, and remove the config it wrote.
set -uo pipefail
log() { echo "[slurm-local] $*"; }
stop_pidfile() {  # name pidfile
  local pid
  [ -s "$2" ] || return 0
  pid="$(cat "$2")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$1 still alive, SIGKILL"; kill -KILL "$pid"; }
  fi
  rm -f "$2"
}
if command -v scancel >/dev/null && [ -s /run/slurm/slurmctld.pid ]; then
  scancel --state=PENDING,RUNNING --full 2>/dev/null || true
  for _ in $(seq 50); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.2; done
fi
stop_pidfile slurmd /run/slurm/slurmd.pid
stop_pidfile slurmctld /run/slurm/slurmctld.pid
stop_pidfile munged /run/munge/munged.pid
# Remove the config setup-slurm-local.sh rendered (recognised by its first line). Left behind, it
# sends every SLURM client command to a controller that is gone, and each waits ~9 s before failing;
# snakemake's SLURM plugin runs `scontrol show config` whenever snakemake starts, local runs
# included. Without a config the commands fail at once.
if head -1 /etc/slurm/slurm.conf 2>/dev/null | grep -q "for tests/test_slurm.py and CI"; then
  log "removing /etc/slurm/slurm.conf and gres.conf"
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
fi
