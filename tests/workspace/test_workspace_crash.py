"""Crash safety: a writer killed at any instant leaves an archive that passes `verify`, each item
wholly present or absent; two writers at once lose and double nothing."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import PASSPHRASE, blob_exists, copy_archive

from witnessbox.workspace import Workspace


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs when there is one: these tests kill processes, not the power,
    so skipping the disk's fsync latency changes nothing they check and saves minutes."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="wb-crash-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


@pytest.fixture
def crash_archive(archive_path: Path, fast_tmp: Path) -> Path:
    return copy_archive(archive_path, fast_tmp / "archive")


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("witnessbox")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "witnessbox"]


def _env(archive: Path) -> dict[str, str]:
    return {**os.environ, "WITNESSBOX_PASSPHRASE": PASSPHRASE, "WITNESSBOX_ARCHIVE": str(archive)}


def _check(archive: Path, identity: object, inputs: list[Path]) -> set[str]:
    """verify passes, and every input is wholly present (blob, record, log) or wholly absent."""
    ws = Workspace.open(archive, PASSPHRASE)  # recovery runs here, as after any crash
    ws._identity_value = identity  # type: ignore[assignment]
    rep = ws.verify()
    assert rep.ok, rep.problems
    sealed = {r.sha256 for r in ws.items()}
    for p in inputs:
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        parts = [blob_exists(ws, sha), ws.record_path(sha).exists()]
        assert all(parts) if sha in sealed else not any(parts), (p, parts)
    assert not list((archive / "pending").iterdir()) and not list((archive / "tmp").iterdir())
    ws.close()
    return sealed


def _inputs(d: Path, rng: random.Random, n: int = 3) -> list[Path]:
    d.mkdir(parents=True)
    out = []
    for i in range(n):
        p = d / f"f{i}.bin"
        p.write_bytes(rng.randbytes(rng.choice([1_000, 300_000, 2_000_000])))
        out.append(p)
    return out


@pytest.mark.slow
def test_killing_a_real_add_at_random_moments(crash_archive: Path, fast_tmp: Path, unlocked_identity: object) -> None:
    archive_path, tmp_path = crash_archive, fast_tmp
    rng = random.Random(20260101)
    env = _env(archive_path)
    # Calibrate: how long a whole `witnessbox add` of one batch takes on this machine.
    first = _inputs(tmp_path / "calib", rng)
    t0 = time.monotonic()
    subprocess.run([*_cli(), "add", str(tmp_path / "calib")], env=env, check=True, capture_output=True, timeout=120)
    span = time.monotonic() - t0
    all_inputs = list(first)
    kills = 0
    for i in range(50):
        batch = _inputs(tmp_path / f"b{i}", rng)
        all_inputs += batch
        proc = subprocess.Popen([*_cli(), "add", str(tmp_path / f"b{i}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05 * span, 1.05 * span))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if i % 10 == 9:
            _check(archive_path, unlocked_identity, all_inputs)
    assert kills >= 25, f"only {kills} of 50 runs were still running when killed"
    # After the crashes, the command line agrees, and a new add completes normally.
    res = subprocess.run([*_cli(), "add", str(tmp_path / "calib"), str(tmp_path / "b0")], env=env, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([*_cli(), "verify"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def _crash_at(step: int, after: bool) -> Callable[..., Any]:
    """Patch the three calls every commit goes through (rename, link, unlink) to die at one."""
    count = [0]
    originals = {n: getattr(os, n) for n in ("replace", "link", "unlink")}

    def wrap(name: str) -> Callable[..., Any]:
        def f(*a: Any, **k: Any) -> Any:
            count[0] += 1
            n = count[0]
            if n == step and not after:
                os._exit(9)
            try:
                return originals[name](*a, **k)
            finally:
                if n == step and after:
                    os._exit(9)

        return f

    for n in originals:
        setattr(os, n, wrap(n))
    return lambda: count[0]


def _run_forked(archive: Path, identity: object, paths: list[Path], step: int, after: bool) -> int:
    pid = os.fork()
    if pid == 0:  # child: seal with a crash at the chosen step; report the step count if none
        code = 0
        try:
            ws = Workspace.open(archive, PASSPHRASE)
            ws._identity_value = identity  # type: ignore[assignment]
            counter = _crash_at(step, after)
            ws.add(paths)
            ws.log_action("note", [], {"n": 1})
            code = min(counter(), 250)
        except BaseException:  # noqa: BLE001 - the child must never return into pytest
            code = 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.slow
def test_crash_at_every_commit_step(crash_archive: Path, fast_tmp: Path, unlocked_identity: object,
                                    fresh_catalog: Callable[[], None]) -> None:
    archive_path, tmp_path = crash_archive, fast_tmp
    rng = random.Random(7)
    template = tmp_path / "template"
    copy_archive(archive_path, template)
    paths = _inputs(tmp_path / "in", rng, 2)
    dup = tmp_path / "in" / "dup.bin"
    dup.write_bytes(paths[0].read_bytes())
    paths.append(dup)
    steps = _run_forked(template, unlocked_identity, paths, 10_000, False)  # no crash: count the steps
    assert 5 < steps < 250
    for step in range(1, steps + 1):
        # Dying just before call k differs from dying just after call k-1 only by a temp file
        # with content; every third step checks that variant too.
        for after in (True, False) if step % 3 == 0 else (True,):
            target = tmp_path / f"s{step}{after}"
            fresh_catalog()  # each copy is another archive: its own catalog
            copy_archive(archive_path, target)
            assert _run_forked(target, unlocked_identity, paths, step, after) == 9
            sealed = _check(target, unlocked_identity, paths)
            assert len(sealed) <= 2
            if step % 5 == 0:  # recovery, then a normal run completes the batch
                ws = Workspace.open(target, PASSPHRASE)
                ws.add(paths)
                assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} <= {r.sha256 for r in ws.items()}
            shutil.rmtree(target)


@pytest.mark.slow
def test_two_writers_at_once(archive_path: Path, tmp_path: Path, unlocked_identity: object) -> None:
    rng = random.Random(3)
    a = _inputs(tmp_path / "a", rng, 4)
    b = _inputs(tmp_path / "b", rng, 4)
    shared = tmp_path / "a" / "shared.bin"
    shared.write_bytes(b"both senders had this")
    shutil.copy(shared, tmp_path / "b" / "shared.bin")
    env = _env(archive_path)
    procs = [subprocess.Popen([*_cli(), "add", str(tmp_path / d)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for d in ("a", "b")]
    for p in procs:
        p.wait(timeout=120)
        assert p.returncode == 0, p.stderr.read() if p.stderr else ""
    sealed = _check(archive_path, unlocked_identity, [*a, *b, shared])
    assert len(sealed) == 9
    ws = Workspace.open(archive_path, PASSPHRASE)
    entries = ws.log()
    assert sum(e.action == "add" for e in entries) == 9
    assert sum(e.action == "receive-duplicate" for e in entries) == 1
    assert [e.seq for e in entries] == list(range(len(entries)))
