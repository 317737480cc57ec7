"""A throwaway one-node SLURM on this machine, to try `profiles/slurm` on a workstation and for
the test suite's cluster drills (tests marked `slurm`; docs/clusters.md).

    python tools/slurm_one_node.py start        # prints the folder and the SLURM_CONF to export
    python tools/slurm_one_node.py stop FOLDER

munged, slurmctld and slurmd run as this user (root, as SLURM needs to start jobs) from a fresh
temporary folder: their config, munge key and socket, state, spool, logs and a pidfile are all
in it, so nothing system-wide is read or changed and no state (a drained node, say) survives
from one start to the next. `stop` cancels what is still queued and ends each daemon by the PID
in the pidfile. The node has partitions `cpu` and `gpu`; it advertises one GPU backed by
/dev/null, so that jobs asking for a GPU are scheduled (and find no CUDA when they start).
Standard library only. Debian: installs slurm-wlm and munge when they are missing (as root).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
# How long a finished job stays known to squeue and `scontrol show job`: the plugin
# (snakemake-executor-plugin-slurm 2.8.0) reads job states with squeue only while MinJobAge >=
# 3 x its init_seconds_before_status_checks (default 40 s), and otherwise falls back to sacct;
# the tests read what SLURM recorded for every job of a run of several minutes.
MIN_JOB_AGE = 3600
START_TIMEOUT = 30.0


class ClusterError(RuntimeError):
    """The cluster could not start; the message says why (with the daemons' logs)."""


def missing_programs() -> list[str]:
    return [name for name in PROGRAMS if shutil.which(name) is None
            and not Path("/usr/sbin", name).exists()]


def install_packages() -> None:
    """apt-get install the Debian packages when a program is missing (root only)."""
    if not missing_programs():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterError(f"missing {', '.join(missing_programs())} (Debian: apt-get install "
                           f"--no-install-recommends {' '.join(PACKAGES)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ClusterError(f"apt-get install {' '.join(PACKAGES)} failed:\n"
                               f"{result.stderr[-2000:]}")


def program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_definition() -> str:
    """This machine as `slurmd -C` sees it (hostname, CPUs, memory), with one stand-in GPU."""
    line = subprocess.run([program("slurmd"), "-C"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]
    return f"{line} NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN"


def slurm_conf(root: Path, node: str) -> str:
    name = node.split()[0].split("=")[1]
    return f"""\
ClusterName=onenode
SlurmctldHost={name}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket.2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
MinJobAge={MIN_JOB_AGE}
KillWait=30
OverTimeLimit=0
ReturnToService=2
MpiDefault=none
{node}
PartitionName=cpu Nodes={name} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={name} MaxTime=INFINITE State=UP
"""


class OneNodeSlurm:
    """A running cluster in `root`; `env` is what a client (sbatch, Snakemake) needs."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.pidfile = self.root / "pids.json"
        self.bin = self.root / "bin"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"}

    # -- start
    @classmethod
    def start(cls, root: Path | None = None) -> OneNodeSlurm:
        if os.geteuid() != 0:
            raise ClusterError("needs root: slurmd starts each job as its user")
        install_packages()
        root = Path(root or tempfile.mkdtemp(prefix="slurm-one-node-"))
        cluster = cls(root)
        try:
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start(self) -> None:
        for folder in ("munge", "state", "spool"):
            (self.root / folder).mkdir(mode=0o700, parents=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        (self.root / "gres.conf").write_text("Name=gpu File=/dev/null\n")
        # snakemake-executor-plugin-slurm-jobstep 0.6.1 removes SLURM_CONF from the environment
        # of the srun it runs inside each job, and srun then finds no config (a real cluster's
        # is at /etc/slurm/slurm.conf, or served configless); the jobs inherit PATH, so an srun
        # first on it puts SLURM_CONF back.
        self.bin.mkdir()
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {program("srun")} "$@"\n')
        srun.chmod(0o755)
        self.conf.write_text(slurm_conf(self.root, node_definition()))
        munge = self.root / "munge"
        self._spawn("munged", [program("munged"), "--foreground", "--force",
                               f"--socket={munge}/munge.socket.2", f"--key-file={key}",
                               f"--log-file={munge}/munged.log", f"--pid-file={munge}/munged.pid",
                               f"--seed-file={munge}/munged.seed"])
        self._wait(lambda: (munge / "munge.socket.2").exists(), "munged's socket")
        self._spawn("slurmctld", [program("slurmctld"), "-D", "-f", str(self.conf)])
        self._spawn("slurmd", [program("slurmd"), "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, "the node to be idle")

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.root / f"{name}.out", "w") as out:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, env=self.env,
                                       start_new_session=True)
        pids = self.pids()
        pids[name] = process.pid
        self.pidfile.write_text(json.dumps(pids))

    def _node_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
        if any(s.startswith(("drain", "down", "inval", "fail")) for s in state):
            node = self.run("scontrol", "show", "node", check=False).stdout
            raise ClusterError(f"the node is {state}:\n{node}")
        return bool(state) and all(s == "idle" for s in state)

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            dead = [name for name, pid in self.pids().items() if not _alive(pid)]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"{START_TIMEOUT:.0f} s passed"
                raise ClusterError(f"SLURM did not start ({why} waiting for {what}):\n"
                                   f"{self.logs()}")
            time.sleep(0.2)

    # -- use
    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=self.env, capture_output=True, text=True,
                              check=check)

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as key -> value (the job is known for MinJobAge after it ends)."""
        text = self.run("scontrol", "show", "job", "-o", job_id).stdout
        return dict(item.split("=", 1) for item in text.split() if "=" in item)

    def logs(self) -> str:
        files = sorted(self.root.glob("*.out")) + sorted(self.root.glob("*.log")) \
            + [self.root / "munge" / "munged.log"]
        return "\n".join(f"--- {f}\n{f.read_text(errors='replace')[-3000:]}"
                         for f in files if f.exists())

    # -- stop
    def pids(self) -> dict[str, int]:
        return json.loads(self.pidfile.read_text()) if self.pidfile.exists() else {}

    def stop(self) -> None:
        """Cancel every job, then end each daemon this cluster started, by its PID."""
        pids = self.pids()
        if "slurmctld" in pids and _alive(pids["slurmctld"]):
            self.run("scancel", "--full", "--user", str(os.geteuid()), check=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.run(
                    "squeue", "-h", "-t", "R,CG,PD", check=False).stdout.strip():
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in pids:
                _end(pids[name])
        self.pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a daemon that exited but is not reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _end(pid: int, timeout: float = 15.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:  # reap it when it is our child (the test fixture); harmless otherwise
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a cluster in a new temporary folder")
    start.add_argument("--dir", type=Path, help="an empty folder to use instead")
    stop = commands.add_parser("stop", help="stop the cluster started in FOLDER")
    stop.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stop":
        OneNodeSlurm(args.folder).stop()
        print(f"stopped the cluster in {args.folder}")
        return 0
    try:
        cluster = OneNodeSlurm.start(args.dir)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"one-node SLURM running in {cluster.root} (daemons: {cluster.pids()})\n"
          f"export SLURM_CONF={cluster.conf} PATH={cluster.bin}:$PATH\n"
          f"stop it with: python {sys.argv[0]} stop {cluster.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
