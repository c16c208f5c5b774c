#!/usr/bin/env bash
# Stop the single-node SLURM started by .ci/slurm/setup.sh: cancel its jobs, then stop every daemon recorded in
# $SLURM_CI_DIR/pids by PID, in reverse start order (TERM, then KILL after 10 s), and remove the slurm.conf and
# gres.conf it wrote. Safe to run more than once; a PID whose process is no longer the recorded daemon (PID
# reused) is left alone.
set -uo pipefail

STATE_DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
PID_LIST="$STATE_DIR/pids"
CONF_DIR=/etc/slurm
MARKER="# Single-node CI cluster written by .ci/slurm/setup.sh."

log() { echo "[slurm-ci] $*"; }

is_daemon() { [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ]; }   # is_daemon NAME PID

cancel_jobs() {  # while our controller is up, cancel every job and wait (up to 20 s) for them to end
  local controller_pid
  controller_pid=$(awk '$1 == "slurmctld" {print $2}' "$PID_LIST")
  [ -n "$controller_pid" ] && is_daemon slurmctld "$controller_pid" || return 0
  [ -n "$(squeue -h -o %A 2>/dev/null)" ] || return 0
  log "cancelling jobs: $(squeue -h -o %A | tr '\n' ' ')"
  squeue -h -o %A | xargs -r scancel || true
  for _ in $(seq 40); do
    [ -z "$(squeue -h -t running,completing -o %A 2>/dev/null)" ] && break
    sleep 0.5
  done
}

stop_daemons() {  # TERM each recorded daemon, newest first; KILL it after 10 s
  local name pid
  tac "$PID_LIST" | while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    if ! is_daemon "$name" "$pid"; then
      log "$name ($pid) is not running"
      continue
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do
      is_daemon "$name" "$pid" || break
      sleep 0.1
    done
    if is_daemon "$name" "$pid"; then
      kill -KILL "$pid"
      log "killed $name ($pid)"
    else
      log "stopped $name ($pid)"
    fi
  done
  rm -f "$PID_LIST"
}

if [ -f "$PID_LIST" ]; then
  cancel_jobs
  stop_daemons
else
  log "no $PID_LIST: no daemons to stop"
fi
for conf in "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"; do
  if [ -f "$conf" ] && [ "$(head -n 1 "$conf")" = "$MARKER" ]; then rm -f "$conf"; fi
done
