"""Who runs in a working directory, so that a killed run resumes with the same command.

Snakemake's lock files (.snakemake/locks) do not say which process holds them, and a job it
started keeps running when snakemake itself is killed (SIGKILL of snakemake alone): its parent is
gone, but nothing stops it. So, under .snakemake/zsc/:

- `snakemake/<host>-<pid>.json`: every snakemake the user starts records itself (pid, start time,
  boot) while it parses the Snakefile, before it locks the directory, and removes the record when it
  exits. A record left behind names a snakemake that was killed.
- `jobs/<host>-<pid>.json`: every job (zsc.logs.run_logged) records itself, its snakemake and its
  output files while it runs.

When snakemake starts (`take_over`, from the Snakefile, before snakemake locks anything), it stops
the jobs of killed snakemakes that still run and removes the temporary files they left, then removes
the locks if no snakemake that could hold them is alive. Each job also starts a watchdog process
(`guard`) that kills the job, with its child processes, within a second of its snakemake's death,
so no orphan keeps writing into results/ even if nobody reruns. Together with snakemake's own
incomplete markers and `rerun-incomplete` (profiles/default), the command that was killed resumes.

A process is identified by its pid and its start time (/proc/<pid>/stat) on one boot of one host,
so a reused pid is never taken for the process that died. Records of another host (a shared file
system) cannot be checked and count as alive.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE_DIR = Path(".snakemake") / "zsc"
LOCK_DIR = Path(".snakemake") / "locks"
# Set by the Snakefile for the jobs of a snakemake: the identity of their snakemake (JSON), and where
# they record themselves (only jobs of the snakemake the user started; not of SLURM's remote ones).
OWNER_ENV = "ZSC_SNAKEMAKE"
JOBS_ENV = "ZSC_JOBS_DIR"
WATCH_INTERVAL_S = 0.5
KILL_WAIT_S = 10.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def identity(pid: int | None = None) -> dict | None:
    """What names a running process for good: host, boot, pid and start time."""
    pid = os.getpid() if pid is None else pid
    stat = _stat(pid)
    if stat is None:
        return None
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": stat[1]}


def alive(who: dict) -> bool | None:
    """Whether the process `who` (an identity) still runs; None when it ran on another host."""
    if who["host"] != socket.gethostname():
        return None
    if who["boot"] != _boot_id():
        return False
    stat = _stat(who["pid"])
    return stat is not None and stat[1] == who["start"] and stat[0] not in ("Z", "X")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def kill_tree(who: dict) -> None:
    """SIGKILL the process `who` and its descendants (a job's DataLoader or joblib workers). It is
    stopped first, so it starts no new ones while they are collected."""
    if not alive(who):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(who["pid"], signal.SIGSTOP)
    tree, todo = _children(), [who["pid"]]
    doomed = []
    while todo:
        pid = todo.pop()
        doomed.append(pid)
        todo.extend(tree.get(pid, []))
    # descendants first, the job last: the watchdog calling this is the job's child and dies with it
    # (its parent-death signal), so killing the job first could leave the job's workers running
    for pid in reversed(doomed):
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _wait_gone(processes: list[dict], timeout: float = KILL_WAIT_S) -> list[dict]:
    """Wait until none of `processes` runs; those still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in processes if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # being written, or half-written when its writer was killed


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, sort_keys=True))
    os.replace(tmp, path)


def _record_name(who: dict) -> str:
    return f"{who['host']}-{who['pid']}.json"


def leftover_temporaries(outputs: list[str], pid: int) -> list[Path]:
    """The temporary files a killed job `pid` left beside or inside its outputs (zsc.tables.atomic
    and every other writer here name them `.<name>.tmp<pid>`)."""
    found = []
    for output in map(Path, outputs):
        found += [p for p in [output.with_name(f".{output.name}.tmp{pid}")] if p.exists()]
        if output.is_dir():
            found += [p for p in output.rglob(f".*.tmp{pid}") if p.is_file()]
    return found


def take_over(state_dir: Path = STATE_DIR, lock_dir: Path = LOCK_DIR, log=None) -> list[str]:
    """In the snakemake the user started, before it locks the directory: stop the jobs of killed
    snakemakes and remove what they left (their temporary files, their locks), then record this
    snakemake for its jobs and for the next one. Returns the lines it printed."""
    log = log or (lambda line: print(line, file=sys.stderr))
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        log(line)

    records = {path: _read(path) for path in sorted((state_dir / "snakemake").glob("*.json"))}
    dead = {path: who for path, who in records.items() if who and alive(who) is False}
    running = [who for who in records.values() if who and alive(who) is not False]

    # Jobs whose snakemake is gone: stop those still running (a watchdog normally has), and
    # clear what they left, before anything could start the same job again.
    stopped, leftovers = [], []
    for path in sorted((state_dir / "jobs").glob("*.json")):
        job = _read(path)
        if not job or alive(job["owner"]) is not False:
            continue
        if alive(job["job"]):
            kill_tree(job["job"])
            stopped.append(job)
    if stopped and (left := _wait_gone([job["job"] for job in stopped])):
        sys.exit(
            f"zsc: could not stop the job(s) with pid {', '.join(str(j['pid']) for j in left)} "
            "left running by a killed snakemake; stop them, then run the command again"
        )
    for path in sorted((state_dir / "jobs").glob("*.json")):
        job = _read(path)
        if job and alive(job["owner"]) is False and not alive(job["job"]):
            leftovers += leftover_temporaries(job["outputs"], job["job"]["pid"])
            path.unlink(missing_ok=True)
    for tmp in leftovers:
        tmp.unlink(missing_ok=True)
    if stopped:
        names = ", ".join(f"pid {job['job']['pid']} ({job['outputs'][0] if job['outputs'] else 'no output'})" for job in stopped)
        say(f"zsc: stopped {len(stopped)} job(s) of a killed snakemake that were still running: {names}")

    locks = sorted(lock_dir.glob("*.lock"))
    if locks and not running:
        for lock in locks:
            lock.unlink(missing_ok=True)
        killed = ", ".join(str(who["pid"]) for who in dead.values()) or "unknown"
        say(f"zsc: removed the lock left by a snakemake that no longer runs (pid {killed}); resuming")
    elif locks:
        for who in running:
            where = "" if alive(who) else f" on host {who['host']} (cannot check from here)"
            say(
                f"zsc: another snakemake (pid {who['pid']}{where}, started {who.get('started', '?')}) "
                "is running in this directory"
            )
    for path in dead:
        path.unlink(missing_ok=True)

    me = identity()
    if me is not None:
        mine = state_dir / "snakemake" / _record_name(me)
        _write(mine, {**me, "started": datetime.datetime.now().isoformat(timespec="seconds")})
        atexit.register(mine.unlink, missing_ok=True)
        os.environ[OWNER_ENV] = json.dumps(me)
        os.environ[JOBS_ENV] = str((state_dir / "jobs").resolve())
    return said


def mark_remote() -> None:
    """In a snakemake SLURM started for a job: its jobs belong to it, and are not recorded (the
    directory may be shared with the snakemake that submitted it, on another host)."""
    me = identity()
    os.environ.pop(JOBS_ENV, None)
    if me is not None:
        os.environ[OWNER_ENV] = json.dumps(me)


@contextlib.contextmanager
def guard(outputs: list[str] = ()):
    """Around a job's work: record the job and start its watchdog, so it ends with its snakemake.
    SIGTERM ends it as an exception would (its temporary files are removed). Outside snakemake
    (no owner in the environment), it does nothing."""
    owner = json.loads(os.environ[OWNER_ENV]) if os.environ.get(OWNER_ENV) else None
    if owner is None:
        yield
        return
    me = identity()
    record = Path(os.environ[JOBS_ENV]) / _record_name(me) if os.environ.get(JOBS_ENV) else None
    previous = None
    if record is not None:
        _write(record, {"job": me, "owner": owner, "outputs": [os.path.abspath(o) for o in outputs]})
    with contextlib.suppress(ValueError):  # only the main thread may set it
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    package_root = str(Path(__file__).resolve().parents[1])
    watchdog = subprocess.Popen(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys; from zsc.jobs import _watch_main; _watch_main(sys.argv[1:])",
            json.dumps(me),
            json.dumps(owner),
        ],
        env={**os.environ, "PYTHONPATH": package_root},
        stdin=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if record is not None:
            record.unlink(missing_ok=True)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _set_parent_death_signal(signum: int) -> None:
    """Linux: deliver `signum` to this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)


def watch(job: dict, owner: dict, interval: float = WATCH_INTERVAL_S) -> bool:
    """The watchdog's loop, in a process of its own started by the job: end when the job ends (the
    job is its parent), kill the job and its children when the job's snakemake is gone. A thread of
    the job could not do it: numba and Cython code may hold the interpreter lock for minutes.
    Returns whether it killed the job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the job; the watchdog outlives it
    _set_parent_death_signal(signal.SIGKILL)
    while alive(job):
        if os.getppid() != job["pid"]:
            return False  # the job ended before the parent-death signal was set
        if alive(owner) is False:
            kill_tree(job)
            return True
        time.sleep(interval)
    return False


def _watch_main(argv: list[str]) -> None:
    watch(json.loads(argv[0]), json.loads(argv[1]))
