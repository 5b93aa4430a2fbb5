"""A killed run resumes with the same command, leaving no job running (zsc.jobs, profiles/default).

The unit tests run real processes (sleep, python) in place of snakemake and its jobs, a few seconds
in all. The integration test kills the README's command at four points with the four kinds of kill,
on the integration tests' small config (tests/configs/tiny.yaml as the working folder's default
config: every stage, a network encoder and UMAP, in a few minutes)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, SNAKEMAKE
from zsc import jobs


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def wait_until(condition, what: str, timeout: float = 60.0):
    """Poll `condition` until it holds (a bound against hanging, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.1)


@pytest.fixture
def process():
    """Start `sleep` processes standing in for snakemake or a job; all are killed at the end."""
    started = []

    def start(seconds: int = 600) -> subprocess.Popen:
        started.append(subprocess.Popen(["sleep", str(seconds)]))
        return started[-1]

    yield start
    for p in started:
        p.kill()
        p.wait()


def killed(p: subprocess.Popen) -> dict:
    """The identity `p` had, after killing it: a snakemake that was killed."""
    who = jobs.identity(p.pid)
    p.kill()
    p.wait()
    return who


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working directory; take_over's changes to the environment are undone afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(jobs.OWNER_ENV, raising=False)
    monkeypatch.delenv(jobs.JOBS_ENV, raising=False)
    return tmp_path


def write_record(path: Path, record: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_identity_tells_a_running_process_from_a_dead_or_reused_pid(process):
    p = process()
    who = jobs.identity(p.pid)
    assert jobs.alive(who) is True
    assert jobs.alive({**who, "start": who["start"] + 1}) is False  # same pid, another process
    assert jobs.alive({**who, "boot": "another boot"}) is False
    assert jobs.alive({**who, "host": "another-host"}) is None  # cannot be checked from here
    p.kill()
    wait_until(lambda: jobs.alive(who) is False, "the killed process to end")
    assert jobs.identity(p.pid) is not None  # a zombie, not reaped yet, that no longer runs
    p.wait()
    assert jobs.alive(who) is False and jobs.identity(p.pid) is None


def test_take_over_stops_a_killed_snakemakes_jobs_and_removes_its_lock_and_temporaries(workdir, process):
    owner = killed(process())
    job = process()
    out = workdir / "results" / "x.parquet"
    out.parent.mkdir(parents=True)
    tmp = out.with_name(f".x.parquet.tmp{job.pid}")
    tmp.write_bytes(b"half")
    other = out.with_name(".x.parquet.tmp1")  # another process's: not this job's to remove
    other.write_bytes(b"")
    state = workdir / ".snakemake" / "zsc"
    write_record(state / "snakemake" / f"{owner['host']}-{owner['pid']}.json", owner)
    write_record(state / "jobs" / "j.json", {"job": jobs.identity(job.pid), "owner": owner, "outputs": [str(out)]})
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir()
    (locks / "0.output.lock").write_text(str(out))

    said = jobs.take_over()

    assert job.poll() == -signal.SIGKILL  # stopped before anything could start it again
    assert not tmp.exists() and other.exists()
    assert not list(locks.glob("*.lock"))
    assert said == [
        f"zsc: stopped 1 job(s) of a killed snakemake that were still running: pid {job.pid} ({out})",
        f"zsc: removed the lock left by a snakemake that no longer runs (pid {owner['pid']}); resuming",
    ]
    # only this snakemake's record is left, and its jobs learn who it is
    me = jobs.identity()
    assert [p.name for p in (state / "snakemake").iterdir()] == [f"{me['host']}-{me['pid']}.json"]
    assert not list((state / "jobs").iterdir())
    assert json.loads(os.environ[jobs.OWNER_ENV]) == me
    assert os.environ[jobs.JOBS_ENV] == str((state / "jobs").resolve())


def test_take_over_keeps_the_lock_of_a_running_snakemake(workdir, process):
    owner = process()
    who = jobs.identity(owner.pid)
    write_record(workdir / ".snakemake/zsc/snakemake/a.json", {**who, "started": "2026-12-01T10:00:00"})
    job = process()
    write_record(workdir / ".snakemake/zsc/jobs/b.json", {"job": jobs.identity(job.pid), "owner": who, "outputs": []})
    lock = workdir / ".snakemake/locks/0.output.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("results/x")

    said = jobs.take_over()

    assert lock.exists() and job.poll() is None
    assert said == [f"zsc: another snakemake (pid {owner.pid}, started 2026-12-01T10:00:00) is running in this directory"]
    assert (workdir / ".snakemake/zsc/jobs/b.json").exists()


def test_take_over_without_locks_or_records_says_nothing(workdir):
    assert jobs.take_over() == []


GUARDED_JOB = textwrap.dedent("""
    import subprocess, sys, time
    from zsc import jobs, tables
    with jobs.guard([sys.argv[1]]):
        child = subprocess.Popen(["sleep", "600"])  # like a DataLoader worker
        with tables.atomic(sys.argv[1]) as tmp:
            tmp.write_bytes(b"half")
            print(child.pid, flush=True)
            time.sleep(600)
    """)


def start_guarded_job(tmp_path: Path, owner: dict) -> tuple[subprocess.Popen, int, Path]:
    """A job process under zsc.jobs.guard, writing its output, with a child process; (job, child pid,
    output)."""
    out = tmp_path / "out.parquet"
    env = {**os.environ, jobs.OWNER_ENV: json.dumps(owner), jobs.JOBS_ENV: str(tmp_path / "jobs")}
    job = subprocess.Popen([sys.executable, "-c", GUARDED_JOB, str(out)], env=env, stdout=subprocess.PIPE, text=True)
    child = int(job.stdout.readline())
    return job, child, out


def test_a_job_dies_with_its_snakemake_even_when_snakemake_is_killed_alone(tmp_path, process):
    owner = process()
    job, child, out = start_guarded_job(tmp_path, jobs.identity(owner.pid))
    record = json.loads((tmp_path / "jobs" / f"{jobs.identity()['host']}-{job.pid}.json").read_text())
    assert record["outputs"] == [str(out)] and record["owner"]["pid"] == owner.pid

    time.sleep(1.5)  # the watchdog has looked at a running snakemake a few times: nothing happens
    assert job.poll() is None and not _gone(child)

    owner.kill()  # SIGKILL of snakemake alone: nobody tells the job
    owner.wait()
    wait_until(lambda: job.poll() is not None and _gone(child), "the job and its child to be killed")
    assert job.returncode == -signal.SIGKILL
    # killed mid-write: its temporary file and its record stay for the next snakemake to clear
    assert out.with_name(f".out.parquet.tmp{job.pid}").exists() and not out.exists()


def test_sigterm_ends_a_job_like_an_error_removing_its_temporary_file(tmp_path, process):
    owner = process()
    job, child, out = start_guarded_job(tmp_path, jobs.identity(owner.pid))
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=60) == 128 + signal.SIGTERM
    assert not list(tmp_path.glob(".out.parquet.tmp*")) and not out.exists()
    assert not list((tmp_path / "jobs").iterdir())  # it ended, so it is no longer recorded
    os.kill(child, signal.SIGKILL)


def test_guard_outside_snakemake_does_nothing(monkeypatch):
    monkeypatch.delenv(jobs.OWNER_ENV, raising=False)
    handler = signal.getsignal(signal.SIGTERM)
    with jobs.guard(["x"]):
        assert jobs._children().get(os.getpid(), []) == []  # no watchdog started
        assert signal.getsignal(signal.SIGTERM) is handler  # SIGTERM left as it was


# --- The default-sized run, killed at four points, then the same command each time -------------------


def ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return pids


def processes_in(workdir: Path) -> list[str]:
    """Command lines of the processes working in `workdir` (snakemake, its jobs, their workers),
    but this test's own."""
    found, mine = [], ancestors()
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        if int(stat.parent.name) in mine:
            continue
        try:
            cmdline = stat.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(workdir) in cmdline and state not in "ZX":
            found.append(cmdline)
    return found


def _signals_as_a_shell_leaves_them() -> None:
    """Ctrl-C and Ctrl-\\ at their defaults, as a terminal's shell starts a command in the foreground:
    a test suite started in the background by a shell without job control (nohup ... &) inherits
    them ignored, and a snakemake that ignores SIGINT would run on to the end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Run:
    """The README's command (`snakemake --cores all`, the working folder's default config) in
    `workdir`, started in a process group of its own as a shell starts it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.start = time.time()
        self.log = (workdir / f"run{len(list(workdir.glob('run*.log')))}.log").open("w")
        self.process = subprocess.Popen(
            [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "all"],
            cwd=workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_signals_as_a_shell_leaves_them,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def kill_when(self, pattern: str, sig: int, group: bool) -> None:
        """Send `sig` to snakemake (or to its whole process group) once this run writes a log
        matching `pattern` (a job of it started), and wait for snakemake to end."""

        def written(path: Path) -> bool:
            try:
                return path.stat().st_mtime >= self.start
            except FileNotFoundError:  # removed between the listing and the look
                return False

        def started():
            return any(written(p) for p in self.workdir.glob(pattern)) or self.process.poll() is not None

        wait_until(started, pattern, 1800)
        assert self.process.poll() is None, f"the run ended before {pattern} appeared:\n{self.output()[-3000:]}"
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        self.process.wait(timeout=1800)


@pytest.mark.integration
def test_a_run_killed_at_four_points_resumes_with_the_same_command(tmp_path):
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", work / "config" / "config.yaml")
    said = []

    # 1. Ctrl-C in the terminal (SIGINT to the group) as the first embeddings start
    run = Run(work)
    run.kill_when("results/logs/embed/*/*/*.log", signal.SIGINT, group=True)
    # 2. SIGTERM to the group (a batch system stopping it) as the first clustering starts
    run = Run(work)
    run.kill_when("results/logs/cluster/**/*.log", signal.SIGTERM, group=True)
    said.append(run.output())
    # 3. SIGKILL of snakemake alone, its jobs running (the watchdogs must end them); the network's
    # clusterings on its UMAP: the reductions (priority) ran before the clusterings of point 2
    run = Run(work)
    run.kill_when("results/logs/cluster/digits/all/random_tiny/seed1/umap5/*.log", signal.SIGKILL, group=False)
    said.append(run.output())
    wait_until(lambda: not processes_in(work), "the killed snakemake's jobs to end", 60)
    # 4. SIGKILL of the whole group, late in the run
    run = Run(work)
    run.kill_when("results/logs/labelfree/**/*.log", signal.SIGKILL, group=True)
    said.append(run.output())
    assert not processes_in(work)

    run = Run(work)
    assert run.process.wait(timeout=1800) == 0, run.output()[-4000:]
    said.append(run.output())
    # each run after a kill resumed by itself; after a SIGKILL, removing the lock it left
    assert "--rerun-incomplete" not in "".join(said) and "--unlock" not in "".join(said)
    assert all("removed the lock left by a snakemake that no longer runs" in out for out in said[2:])

    # Finished: nothing left to do, nothing half-written, no record of a job or snakemake left
    dry = subprocess.run(
        [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(work), "-n"], cwd=work, capture_output=True, text=True
    )
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    assert not [p for p in (work / "results").rglob(".*") if ".tmp" in p.name]
    assert not [p for p in (work / ".snakemake/incomplete").rglob("*") if p.is_file()]
    assert not list((work / ".snakemake/zsc/jobs").iterdir())
    assert not list((work / ".snakemake/zsc/snakemake").iterdir())
    # every parquet file reads, and the runs table has every cell of the grid (1 x 2 x 3 x 3)
    for path in (work / "results").rglob("*.parquet"):
        pd.read_parquet(path)
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    assert len(runs) == 18 and runs["AMI"].notna().all()
