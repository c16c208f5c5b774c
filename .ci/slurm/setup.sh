#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (Debian bookworm, root, no systemd) for the cluster-mode test.
#
# Installs Debian's slurm-wlm + munge when missing, writes /etc/slurm/slurm.conf and gres.conf (the default path:
# Snakemake's jobstep drops SLURM_* variables, SLURM_CONF included, before calling srun inside a job), keeps state,
# spool and logs in a folder of its own, starts munged (unless one already answers), slurmctld and slurmd, and
# waits until the node is idle. It refuses to overwrite a slurm.conf it did not write.
# There is no accounting database: run Snakemake's slurm executor with --slurm-status-command squeue
# (workflow/profiles/slurm-ci does); MinJobAge=300 keeps that mode reliable.
# The node offers fake GPUs (gres gpu backed by /dev/null, /dev/zero, ...): GPU requests are scheduled and each
# job gets its own CUDA_VISIBLE_DEVICES, but there is no device behind them.
#
# Environment:
#   SLURM_CI_DIR   state folder: controller state, spool, logs, prolog, pid list (default /tmp/slurm-ci)
#   SLURM_CI_GPUS  number of fake GPUs on the node, 1 to 5 (default 1)
# Every daemon started here is recorded as "name pid" in $SLURM_CI_DIR/pids; .ci/slurm/teardown.sh stops
# exactly those, by PID. On failure this script runs the teardown itself.
set -Eeuo pipefail

STATE_DIR=${SLURM_CI_DIR:-/tmp/slurm-ci}
FAKE_GPUS=${SLURM_CI_GPUS:-1}
TEARDOWN="$(cd "$(dirname "$0")" && pwd)/teardown.sh"
NODE=$(hostname -s)
CPUS=$(nproc)
MEMORY_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 85 / 100 / 1024 ))   # 15 % left to the system
PID_LIST="$STATE_DIR/pids"
CONF_DIR=/etc/slurm
MARKER="# Single-node CI cluster written by .ci/slurm/setup.sh."
started=$(date +%s)

log() { echo "[slurm-ci] $*"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # wait_for SECONDS COMMAND...: retry COMMAND every 0.5 s until it succeeds or time runs out
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

record_pid() {  # record_pid NAME PID_FILE: wait for the daemon's pid file, then add "NAME PID" to the pid list
  wait_for 10 test -s "$2" || { log "$1 wrote no pid file $2"; return 1; }
  echo "$1 $(cat "$2")" >> "$PID_LIST"
}

node_idle() { [ "$(sinfo -h -n "$NODE" -o %T)" = idle ]; }

daemons_alive() {
  local name pid
  while read -r name pid; do kill -0 "$pid" 2>/dev/null || { log "$name ($pid) exited"; return 1; }; done < "$PID_LIST"
}

[ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }
for port in 6817 6818; do
  if port_in_use "$port"; then
    log "port $port is in use: a SLURM from an earlier run is still up (stop it with $TEARDOWN)"
    exit 1
  fi
done

if [ -e "$CONF_DIR/slurm.conf" ] && [ "$(head -n 1 "$CONF_DIR/slurm.conf")" != "$MARKER" ]; then
  log "$CONF_DIR/slurm.conf exists and was not written by this script: refusing to replace it"
  exit 1
fi

# Each fake GPU needs a distinct device file (a repeated name is refused): up to 5 harmless character devices.
fake_devices=(/dev/null /dev/zero /dev/full /dev/random /dev/urandom)
if [ "$FAKE_GPUS" -lt 1 ] || [ "$FAKE_GPUS" -gt ${#fake_devices[@]} ]; then
  log "SLURM_CI_GPUS must be 1 to ${#fake_devices[@]}"
  exit 1
fi
gres_files=$(IFS=,; echo "${fake_devices[*]:0:$FAKE_GPUS}")

rm -rf "${STATE_DIR:?}"/{state,spool,log,run}   # no jobs, logs or state from an earlier run
mkdir -p "$STATE_DIR"/{state,spool,log,run}
: > "$PID_LIST"
trap 'log "setup failed; stopping what it started"; SLURM_CI_DIR="$STATE_DIR" bash "$TEARDOWN"' ERR

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  log "installing slurm-wlm and munge"
  # The image's policy-rc.d keeps apt from starting services; the daemons are started below.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running; using it"
else
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  record_pid munged /run/munge/munged.pid
  wait_for 10 bash -c 'munge -n | unmunge'
fi

mkdir -p "$CONF_DIR"
cat > "$CONF_DIR/slurm.conf" <<CONF
${MARKER}
ClusterName=ci
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups in the sandbox: plain process tracking, no CPU binding (memory limits are not enforced).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job without --mem gets the whole node and blocks every other job.
DefMemPerCPU=1000
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${STATE_DIR}/state
SlurmdSpoolDir=${STATE_DIR}/spool
SlurmctldPidFile=${STATE_DIR}/run/slurmctld.pid
SlurmdPidFile=${STATE_DIR}/run/slurmd.pid
SlurmctldLogFile=${STATE_DIR}/log/slurmctld.log
SlurmdLogFile=${STATE_DIR}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
# Job records the test reads: one line per finished job (jobcomp.log: state, resources) and, from the prolog,
# one per started job (jobs.log: id, CPUs and GPUs SLURM gave it, Snakemake's comment naming the rule).
JobCompType=jobcomp/filetxt
JobCompLoc=${STATE_DIR}/log/jobcomp.log
Prolog=${STATE_DIR}/prolog.sh
# Finished jobs stay visible to squeue for 5 min: Snakemake's squeue status mode needs >= 3 x its first interval.
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0
GresTypes=gpu
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEMORY_MB} Gres=gpu:${FAKE_GPUS} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# A fake GPU needs File=: with Count= alone the node goes INVAL (gres/gpu count reported lower than configured).
printf '%s\nNodeName=%s Name=gpu File=%s\n' "$MARKER" "$NODE" "$gres_files" > "$CONF_DIR/gres.conf"
cat > "$STATE_DIR/prolog.sh" <<PROLOG
#!/bin/sh
echo "job=\$SLURM_JOB_ID cpus=\$SLURM_JOB_CPUS_PER_NODE gpus=\${SLURM_JOB_GPUS:-none}" \\
  "comment=\${SLURM_JOB_COMMENT:-}" >> "${STATE_DIR}/log/jobs.log"
PROLOG
chmod 755 "$STATE_DIR/prolog.sh"

rm -f "$STATE_DIR"/run/*.pid
/usr/sbin/slurmctld -i        # forks; -i: a fresh state folder has no state files to read
record_pid slurmctld "$STATE_DIR/run/slurmctld.pid"
/usr/sbin/slurmd -N "$NODE"   # forks
record_pid slurmd "$STATE_DIR/run/slurmd.pid"

ready=false
for _ in $(seq 120); do   # up to 60 s, stopping early when a daemon has died
  if node_idle; then ready=true; break; fi
  daemons_alive || break
  sleep 0.5
done
if ! $ready; then
  log "node $NODE did not become idle"
  sinfo -R || true
  tail -n 20 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" || true
  false
fi
trap - ERR
log "cluster up after $(( $(date +%s) - started )) s"
sinfo -o '%P %a %D %T %c %m %G %N'
