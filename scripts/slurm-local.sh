#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (slurmctld + slurmd, munge authentication),
# for the `slurm` tests and for trying `dsm-bench run --executor slurm` without a cluster.
# Needs root and Debian's slurm-wlm and munge packages:
#   apt-get install -y slurm-wlm munge
# Usage: scripts/slurm-local.sh start|stop|status
# There is no slurmdbd, so no accounting: `sacct` fails and the runner does not use it.
set -euo pipefail

STATE=/run/dsm-bench-slurm          # pid files of the daemons this script started
HOST=$(hostname)
CPUS=${SLURM_LOCAL_CPUS:-$(nproc)}
MEM_MB=${SLURM_LOCAL_MEM_MB:-$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))}

start() {
    command -v slurmctld >/dev/null || { echo "slurmctld not found: apt-get install -y slurm-wlm munge" >&2; exit 2; }
    mkdir -p "$STATE" /etc/munge /run/munge /var/lib/munge /var/log/munge /etc/slurm \
        /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 400 /etc/munge/munge.key
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        pgrep -u munge -n munged > "$STATE/munged.pid"
    fi
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MinJobAge=600
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld
    slurmd
    for _ in $(seq 50); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            sinfo; return 0
        fi
        sleep 0.2
    done
    echo "slurm did not come up; see /var/log/slurm/*.log" >&2
    exit 1
}

stop() {
    # only the daemons this script started, by their pid files
    for name in slurmd slurmctld munged; do
        if [ -s "$STATE/$name.pid" ]; then
            kill "$(cat "$STATE/$name.pid")" 2>/dev/null || true
            rm -f "$STATE/$name.pid"
        fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
