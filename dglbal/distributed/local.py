"""Run DGL's server and trainer roles on this host, as DGL's ``tools/launch.py`` does on a
cluster, for tests and for trying a partitioned graph before taking it to a cluster.

One "machine" per partition, all on 127.0.0.1 (each with its own port): one server process and
``trainers_per_part`` trainer processes per partition, every one running the same command with
the environment variables DGL's launcher sets (``DGL_ROLE``, ``DGL_SERVER_ID``,
``DGL_NUM_CLIENT``, ``DGL_CONF_PATH``, ``DGL_IP_CONFIG``, ...) and, for trainers, those of
``torch.distributed.run`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``GROUP_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). Every process is killed when ``timeout`` runs out.

DGL's servers publish their partition in shared memory under names that do not say which
machine they belong to, so with several partitions each "machine" gets its own mount namespace
with a private ``/dev/shm`` (``unshare --mount``, which needs root), and each trainer is told its
machine (DGL would find it by IP address, which is the same for all of them here).
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .graph import MACHINE_ENV, read_part_config

__all__ = ["LOOPBACK", "LocalRun", "free_ports", "launch_local", "dglbal_train_command"]

LOOPBACK = "127.0.0.1"


@dataclass
class LocalRun:
    """What a local launch did: the trainers' and servers' exit codes (None: killed at the
    timeout or after another process failed) and their logs.

    Parameters
    ----------
    trainer_codes : list of int or None
        The trainers' exit codes, by rank.
    server_codes : list of int or None
        The servers' exit codes, by machine.
    logs : list of pathlib.Path
        Every process's log file.
    timed_out : bool
        Whether the timeout ended the launch.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> run = launch_local(config, [sys.executable, "-c", "pass"], out.name)
    >>> run.trainer_codes, run.server_codes, run.timed_out
    ([0], [0], False)
    >>> out.cleanup()
    """

    trainer_codes: List[Optional[int]]
    server_codes: List[Optional[int]]
    logs: List[Path]
    timed_out: bool

    @property
    def ok(self) -> bool:
        return not self.timed_out and all(c == 0 for c in self.trainer_codes + self.server_codes)

    def tail(self, lines: int = 20) -> str:
        """The last lines of every log, for error messages."""
        parts = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            parts.append(f"--- {log.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)


def free_ports(count: int) -> List[int]:
    """``count`` distinct TCP ports free on the loopback address right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _dgl_env(part_config: Path, ip_config: Path, num_clients: int) -> Dict[str, str]:
    """The variables DGL's launcher gives both roles."""
    return {"DGL_NUM_SAMPLER": "0", "DGL_NUM_CLIENT": str(num_clients),
            "DGL_CONF_PATH": str(part_config), "DGL_IP_CONFIG": str(ip_config),
            "DGL_NUM_SERVER": "1", "DGL_GRAPH_FORMAT": "csc", "OMP_NUM_THREADS": "1"}


def _machine_script(processes: List[tuple], command: Sequence[str], private_shm: bool) -> str:
    """A shell script that starts one machine's processes, ``(name, env, log, exit_file)``,
    in the background and waits for them; each writes its exit code to its exit file."""
    lines = ["set -u"]
    if private_shm:
        lines.append("mount -t tmpfs tmpfs /dev/shm || exit 97")
    quoted = " ".join(shlex.quote(arg) for arg in command)
    for name, env, log, exit_file in processes:
        assignments = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items())
        lines.append(f"(env {assignments} {quoted} > {shlex.quote(str(log))} 2>&1; "
                     f"echo $? > {shlex.quote(str(exit_file))}) &")
    lines.append("wait")
    return "\n".join(lines)


def launch_local(part_config: Path, command: Sequence[str], work_dir: Path, *,
                 trainers_per_part: int = 1, timeout: float = 300.0) -> LocalRun:
    """Start one server per partition and the trainers, all running ``command``; wait for them.

    ``command`` is the user command (for instance from :func:`dglbal_train_command`); the ip
    config is written to ``work_dir/ip_config.txt`` and ``{ip_config}`` in ``command`` is
    replaced by its path. Logs go to ``work_dir/server<i>.log`` and ``trainer<i>.log``.
    Several partitions need root and util-linux's ``unshare`` (see the module docstring).

    Parameters
    ----------
    part_config : pathlib.Path
        The partition config (checked by :func:`~dglbal.distributed.read_part_config`).
    command : sequence of str
        What every server and trainer process runs.
    work_dir : pathlib.Path
        Where the ip config and the logs go (created if missing).
    trainers_per_part : int, default 1
        Trainer processes per partition.
    timeout : float, default 300.0
        Seconds after which every process is killed.

    Returns
    -------
    LocalRun
        The exit codes and the logs.

    Raises
    ------
    ValueError
        For ``trainers_per_part`` below 1, a non-positive ``timeout``, or several partitions
        without root and ``unshare``.
    PartConfigError
        If ``part_config`` is not a usable partition config.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from dglbal.data import make_synthetic
    >>> from dglbal.distributed import partition
    >>> out = tempfile.TemporaryDirectory()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # DGL prints its progress
    ...     config = partition(make_synthetic(num_nodes=200), "tiny", out.name, num_parts=1,
    ...                        part_method="random")
    >>> run = launch_local(config, [sys.executable, "-c", "pass"], out.name)
    >>> run.trainer_codes, run.server_codes
    ([0], [0])
    >>> out.cleanup()
    """
    part_config = Path(part_config).resolve()
    num_parts = int(read_part_config(part_config)["num_parts"])
    if trainers_per_part < 1:
        raise ValueError(f"trainers_per_part must be at least 1, got {trainers_per_part}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    private_shm = num_parts > 1
    if private_shm and (os.geteuid() != 0 or shutil.which("unshare") is None):
        raise ValueError(f"{num_parts} partitions on one host need a private /dev/shm per "
                         "machine (root and `unshare`); partition into one part, or use a "
                         "cluster with DGL's tools/launch.py")
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    *server_ports, master_port = free_ports(num_parts + 1)
    ip_config = work_dir / "ip_config.txt"
    ip_config.write_text("".join(f"{LOOPBACK} {port}\n" for port in server_ports))
    command = [str(arg).replace("{ip_config}", str(ip_config)) for arg in command]
    world = num_parts * trainers_per_part
    common = _dgl_env(part_config, ip_config, world)
    servers, trainers, machines = [], [], []
    for machine in range(num_parts):
        server_env = dict(common, DGL_ROLE="server", DGL_SERVER_ID=str(machine))
        processes = [(f"server{machine}", server_env)]
        for local_rank in range(trainers_per_part):
            rank = machine * trainers_per_part + local_rank
            processes.append((f"trainer{rank}", dict(
                common, DGL_DIST_MODE="distributed", DGL_ROLE="client", DGL_GROUP_ID="0",
                RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local_rank),
                LOCAL_WORLD_SIZE=str(trainers_per_part), GROUP_RANK=str(machine),
                MASTER_ADDR=LOOPBACK, MASTER_PORT=str(master_port),
                **{MACHINE_ENV: str(machine)})))
        processes = [(name, env, work_dir / f"{name}.log", work_dir / f"{name}.exit")
                     for name, env in processes]
        for _, _, log, exit_file in processes:
            log.unlink(missing_ok=True)
            exit_file.unlink(missing_ok=True)
        servers.append(processes[0][3])
        trainers.extend(p[3] for p in processes[1:])
        machines.append(_machine_script(processes, command, private_shm))
    prefix = ["unshare", "--mount", "--propagation", "private"] if private_shm else []
    started = [subprocess.Popen(prefix + ["sh", "-c", script], stdin=subprocess.DEVNULL,
                                start_new_session=True) for script in machines]
    try:
        timed_out = not _wait(servers + trainers, time.monotonic() + timeout)
    finally:
        for process in started:
            _kill(process)
    logs = [f.with_suffix(".log") for f in servers + trainers]
    return LocalRun([_code(f) for f in trainers], [_code(f) for f in servers], logs, timed_out)


def _code(exit_file: Path) -> Optional[int]:
    text = exit_file.read_text().strip() if exit_file.exists() else ""
    return int(text) if text else None


def _wait(exit_files: List[Path], deadline: float) -> bool:
    """Wait until every process has exited (True) or the deadline passes (False). A failed
    process ends the wait early: the others would wait for it forever."""
    while time.monotonic() < deadline:
        codes = [_code(f) for f in exit_files]
        if all(code is not None for code in codes) or any(codes):
            return True
        time.sleep(0.2)
    return False


def _kill(process: subprocess.Popen) -> None:
    """Kill what is left of a machine we started: its process group (its own session) holds
    the shell and every process the shell ran, even after the shell has exited."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def dglbal_train_command(part_config: Path, train_args: Sequence[str]) -> List[str]:
    """``python -m dglbal train --dist-config <part_config> --ip-config {ip_config} ...``.

    Parameters
    ----------
    part_config : pathlib.Path
        The partition config the trainers read.
    train_args : sequence of str
        Further options of ``dglbal train`` (``--layers 5 --init bal_o`` ...).

    Returns
    -------
    list of str
        The command, with ``{ip_config}`` for :func:`launch_local` to fill in.

    Examples
    --------
    >>> from pathlib import Path
    >>> dglbal_train_command(Path("parts/tiny.json"), ["--layers", "2"])[1:]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['-m', 'dglbal', 'train', '--dist-config', 'parts/tiny.json', '--ip-config', '{ip_config}',
     '--layers', '2']
    """
    return [sys.executable, "-m", "dglbal", "train", "--dist-config", str(part_config),
            "--ip-config", "{ip_config}", *train_args]
