#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by scripts/slurm/start.sh: cancel its jobs, stop slurmd,
# slurmctld, slurmdbd, mariadb and munged, remove the /etc/slurm/slurm.conf symlink.
#   bash scripts/slurm/stop.sh           # keeps the state in $RLX_SLURM_DIR (job ids, accounting)
#   bash scripts/slurm/stop.sh --purge   # also deletes $RLX_SLURM_DIR
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

DIR=${RLX_SLURM_DIR:-/tmp/rlx-slurm}
SYSTEM_CONF=/etc/slurm/slurm.conf
export SLURM_CONF="$DIR/etc/slurm.conf"

say() { echo "slurm/stop.sh: $*"; }

# stop PIDFILE NAME: SIGTERM, wait up to 10 s, then SIGKILL
stop() {
  local pidfile=$1 name=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; say "$name ($pid) killed"; else say "$name stopped"; fi
  fi
  rm -f "$pidfile"
}

if [ -f "$SLURM_CONF" ] && [ -s "$DIR/run/slurmctld.pid" ]; then
  jobs=$(timeout 5 squeue -h -o %A 2>/dev/null | sort -u)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 100); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
    say "cancelled jobs: $(echo $jobs)"
  fi
fi
stop "$DIR/run/slurmd.pid" slurmd
stop "$DIR/run/slurmctld.pid" slurmctld
stop "$DIR/run/slurmdbd.pid" slurmdbd
stop "$DIR/mysql/mysqld.pid" mariadbd
stop "$DIR/munge/munged.pid" munged
if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; then
  rm -f "$SYSTEM_CONF"
fi
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$DIR" && say "deleted $DIR"
fi
exit 0
