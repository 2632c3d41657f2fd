#!/usr/bin/env bash
# Start a real single-node SLURM cluster with accounting on this machine (for rlx's launcher tests
# and for trying launcher=slurm locally). Debian/Ubuntu, as root; no systemd needed.
#   bash scripts/slurm/start.sh        # installs the Debian packages if missing, starts the daemons
#   bash scripts/slurm/stop.sh         # stops what this started (--purge also deletes the state)
# The cluster: node "localhost" with all CPUs, 80% of the RAM and 2 fake GPUs (GRES gpu:2 backed by
# character devices, so --gpus-per-node sets CUDA_VISIBLE_DEVICES), one partition "debug".
# All state (configs, logs, spool, database) lives under $RLX_SLURM_DIR (default /tmp/rlx-slurm);
# /etc/slurm/slurm.conf becomes a symlink to its slurm.conf so that sinfo/sbatch/sacct find it.
# Idempotent: when the cluster already answers, it exits 0 at once.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

DIR=${RLX_SLURM_DIR:-/tmp/rlx-slurm}
CLUSTER=${RLX_SLURM_CLUSTER:-rlx}
DB_PORT=${RLX_SLURM_DB_PORT:-3307}
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
SYSTEM_CONF=/etc/slurm/slurm.conf
export SLURM_CONF="$DIR/etc/slurm.conf"

say() { echo "slurm/start.sh: $*"; }
die() { echo "slurm/start.sh: error: $*" >&2; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
log_tail() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }; return 0; }
node_state() { timeout 5 sinfo -h -n localhost -o %T 2>/dev/null | head -n 1; }

# wait_for SECONDS WHAT LOG CMD...: poll CMD every 0.1 s; on timeout show LOG and fail
wait_for() {
  local seconds=$1 what=$2 log=$3; shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then log_tail "$log"; die "$what did not come up within ${seconds}s"; fi
    sleep 0.1
  done
}

# 0. Already running? (a cluster that answers sinfo with a usable node: ours, or the machine's own)
if alive "$DIR/run/slurmctld.pid" || { [ -e "$SYSTEM_CONF" ] && [ ! -L "$SYSTEM_CONF" ]; }; then
  case "$(node_state)" in
    idle*|mixed*|allocated*|completing*) say "SLURM is already running (sinfo answers)"; exit 0 ;;
  esac
fi

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); try: sudo bash $0"
if [ -e "$SYSTEM_CONF" ] && [ "$(readlink -f "$SYSTEM_CONF")" != "$(readlink -f "$SLURM_CONF")" ]; then
  die "$SYSTEM_CONF exists and is not ours: this machine has its own SLURM configuration; not touching it"
fi

# 1. Packages (only when missing). Never the slurm-wlm metapackage (it pulls ~200 packages).
missing=0
for cmd in slurmctld slurmd slurmdbd sinfo sbatch sacct munged mariadbd mariadb-install-db; do
  command -v "$cmd" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  command -v apt-get >/dev/null 2>&1 || die "SLURM is not installed and apt-get is not available; install: ${PACKAGES[*]}"
  say "installing ${PACKAGES[*]} (apt, --no-install-recommends)"
  # keep the packages' maintainer scripts from starting services (there is no init system here)
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added_policy=1
  fi
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >"$1" 2>&1; }
  mkdir -p "$DIR/log"
  if ! install "$DIR/log/apt.log"; then
    apt-get update -qq >/dev/null 2>&1 || true
    install "$DIR/log/apt.log" || { [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; log_tail "$DIR/log/apt.log"; die "apt-get install failed"; }
  fi
  [ "$added_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# 2. Layout and configuration
mkdir -p "$DIR"/{etc,log,run,spool/ctld,spool/d,dev,munge,mysql}
chmod 755 "$DIR"
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 * 0.8 / 1024}' /proc/meminfo)
for i in 0 1; do  # fake GPUs: slurm wants character devices (it rejects plain files)
  [ -c "$DIR/dev/gpu$i" ] || { rm -f "$DIR/dev/gpu$i"; mknod "$DIR/dev/gpu$i" c 1 3; }
done
MUNGE_SOCKET="$DIR/munge/munge.socket"

cat > "$DIR/etc/slurm.conf" <<EOF
# written by rlx scripts/slurm/start.sh
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: a requeued job may start again after ~6 s (the default 120 s delays every requeue)
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=5
CredType=cred/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
MpiDefault=none
ReturnToService=2
JobRequeue=1
SchedulerType=sched/backfill
# schedule every second (defaults: 60 s / 30 s), so that a requeued job starts as soon as it may
SchedulerParameters=sched_interval=1,bf_interval=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$DIR/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu File=$DIR/dev/gpu[0-1]
EOF
cat > "$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=rlx
StorageLoc=slurm_acct_db
EOF
chmod 600 "$DIR/etc/slurmdbd.conf"
mkdir -p /etc/slurm
ln -sfn "$SLURM_CONF" "$SYSTEM_CONF"

# 3. munged (as user munge, its own key and socket)
if ! alive "$DIR/munge/munged.pid"; then
  chown munge:munge "$DIR/munge" && chmod 755 "$DIR/munge"  # clients need x on the socket dir
  if [ ! -s "$DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$DIR/munge/munge.key" && chmod 400 "$DIR/munge/munge.key"
  fi
  runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
    || { log_tail "$DIR/munge/munged.log"; die "munged failed to start"; }
fi
wait_for 10 munged "$DIR/munge/munged.log" bash -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"

# 4. MariaDB for slurmdbd (TCP on 127.0.0.1:$DB_PORT only)
MYSQL_SOCKET="$DIR/mysql/mysqld.sock"
if ! alive "$DIR/mysql/mysqld.pid"; then
  chown mysql:mysql "$DIR/mysql"
  if [ ! -d "$DIR/mysql/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql/data" --skip-test-db \
      --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 \
      || { log_tail "$DIR/log/mariadb-install.log"; die "mariadb-install-db failed"; }
  fi
  setsid mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql/data" --socket="$MYSQL_SOCKET" \
    --pid-file="$DIR/mysql/mysqld.pid" --port="$DB_PORT" --bind-address=127.0.0.1 \
    --log-error="$DIR/log/mariadb.log" --innodb-buffer-pool-size=32M </dev/null >/dev/null 2>&1 &
fi
wait_for 30 mariadb "$DIR/log/mariadb.log" mariadb-admin --no-defaults --socket="$MYSQL_SOCKET" ping
mariadb --no-defaults --socket="$MYSQL_SOCKET" -u root <<'EOF'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'rlx';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'rlx';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF

# 5. slurmdbd, then register the cluster
alive "$DIR/run/slurmdbd.pid" || slurmdbd || { log_tail "$DIR/log/slurmdbd.log"; die "slurmdbd failed to start"; }
wait_for 30 slurmdbd "$DIR/log/slurmdbd.log" sacctmgr -n list cluster
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
  sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
fi

# 6. slurmctld and slurmd; wait for the node to be idle
alive "$DIR/run/slurmctld.pid" || slurmctld || { log_tail "$DIR/log/slurmctld.log"; die "slurmctld failed to start"; }
alive "$DIR/run/slurmd.pid" || slurmd -N localhost || { log_tail "$DIR/log/slurmd.log"; die "slurmd failed to start"; }
deadline=$((SECONDS + 30))
until [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]; do
  case "$(node_state)" in
    down*|drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    log_tail "$DIR/log/slurmctld.log"; log_tail "$DIR/log/slurmd.log"
    die "node localhost is not idle after 30s (state: '$(node_state)')"
  fi
  sleep 0.1
done
say "SLURM cluster '$CLUSTER' is up: node localhost ($CPUS CPUs, ${MEM_MB} MB, gpu:2 fake), partition debug; state in $DIR"
