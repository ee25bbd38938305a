#!/usr/bin/env bash
# A one-node Slurm on localhost for the `slurm` tests (and for trying `--executor slurm`):
#   tests/slurm/local_slurm.sh start    install (Debian packages, as root) if needed, start munge,
#                                       slurmctld and slurmd; waits until the node is idle
#   tests/slurm/local_slurm.sh stop     stop the three daemons
#   tests/slurm/local_slurm.sh status   say what runs
# Idempotent: `start` on a running cluster only checks it. No accounting (slurmdbd), as on many
# small clusters, so `sacct` has nothing to say and the executor must not depend on it.
set -euo pipefail

SPOOL=/var/spool/angiobench-slurm
CONF=/etc/slurm/slurm.conf
PARTITION=debug

need_root() {
    if [ "$(id -u)" != 0 ]; then echo "local_slurm.sh: $1 needs root" >&2; exit 1; fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    need_root "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
    local node cpus memory
    node=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm "$SPOOL/ctld" "$SPOOL/d" /var/log/slurm
    cat > "$CONF.new" <<CONFIG
# written by angiobench tests/slurm/local_slurm.sh: one node on localhost, no accounting
ClusterName=angiobench-local
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$SPOOL/slurmctld.pid
SlurmdPidFile=$SPOOL/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( memory / cpus ))
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONFIG
    if ! cmp -s "$CONF.new" "$CONF"; then mv "$CONF.new" "$CONF"; else rm "$CONF.new"; fi
}

running() { pgrep -x "$1" >/dev/null; }

start() {
    install_packages
    need_root "starting the daemons"
    write_config
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    running munged || runuser -u munge -- /usr/sbin/munged
    running slurmctld || /usr/sbin/slurmctld
    running slurmd || /usr/sbin/slurmd
    for _ in $(seq 60); do
        state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
        case "$state" in
            idle*|mix*|alloc*) echo "local Slurm up: partition $PARTITION, node $(hostname -s), state $state"; return ;;
            down*|drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    echo "local_slurm.sh: the node did not come up; see /var/log/slurm/" >&2
    exit 1
}

stop() {
    for daemon in slurmd slurmctld munged; do
        pkill -x "$daemon" 2>/dev/null || true
    done
    for _ in $(seq 20); do
        running slurmd || running slurmctld || running munged || { echo "local Slurm stopped"; return; }
        sleep 0.5
    done
    echo "local_slurm.sh: a daemon is still running" >&2
    exit 1
}

status() {
    for daemon in munged slurmctld slurmd; do
        if running "$daemon"; then echo "$daemon: running"; else echo "$daemon: stopped"; fi
    done
    sinfo 2>/dev/null || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
