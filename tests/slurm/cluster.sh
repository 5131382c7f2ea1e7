#!/usr/bin/env bash
# A one-node SLURM on this machine, for the tests: munge and Debian's slurm-wlm, with the
# key, socket, spool and logs under DIR. The configuration goes to /etc/slurm, where every
# SLURM command finds it (the executor's job steps drop SLURM_CONF), but only if no other
# SLURM configuration is there; it is marked as ours and removed on stop.
# Usage: cluster.sh start|stop DIR
set -euo pipefail
cmd=$1
dir=$(realpath -m "$2")
host=$(hostname -s)
etc=/etc/slurm
mark="# pvst test cluster"

if [ "$cmd" = stop ]; then
    for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
        if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    sleep 1
    if grep -qx "$mark" "$etc/slurm.conf" 2>/dev/null; then
        rm -f "$etc/slurm.conf" "$etc/gres.conf"
    fi
    exit 0
fi

if [ -e "$etc/slurm.conf" ] && ! grep -qx "$mark" "$etc/slurm.conf"; then
    echo "$etc/slurm.conf exists and is not ours: not touching a real SLURM" >&2
    exit 3
fi
mkdir -p "$etc"

mkdir -p "$dir"/{spool/ctld,spool/d,log,munge}
chmod 700 "$dir"/munge
# munge: its own key and socket
dd if=/dev/urandom of="$dir"/munge/munge.key bs=1024 count=1 status=none
chmod 400 "$dir"/munge/munge.key
munged --force --key-file="$dir"/munge/munge.key --socket="$dir"/munge/munge.socket \
    --pid-file="$dir"/munged.pid --log-file="$dir"/log/munged.log \
    --seed-file="$dir"/munge/munge.seed

# more CPUs and memory than the machine has, so that grouped submissions of small jobs and two
# stylize jobs (16 GB each, as the profile asks) fit side by side as they would on a real GPU
# node (config_overrides makes slurmd take the configured counts)
cpus=8
mem=65536
cat > "$etc"/slurm.conf <<CONF
$mark
ClusterName=pvsttest
SlurmctldHost=$host
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# finished jobs stay visible to squeue, which the executor uses (no accounting database)
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# two GPU slots that SLURM schedules but binds to no device (there is no GPU on this machine)
echo "NodeName=$host Name=gpu File=/dev/null,/dev/zero Count=2" > "$etc"/gres.conf

slurmctld
slurmd
for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then
        echo "SLURM up: $(sinfo -h -o '%P %D %t %c %m %G')"
        exit 0
    fi
    sleep 1
done
echo "SLURM did not come up; logs in $dir/log" >&2
tail -n 20 "$dir"/log/*.log >&2
exit 1
