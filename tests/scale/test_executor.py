"""The executor interface: local by default, Ray on a two-node cluster started on 127.0.0.1.

A Ray run must give byte-identical outputs to the local run, and a worker killed in the middle
of a file must leave a complete output (the task is retried on the restarted worker).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from _servers import listening_beyond_loopback, lose_catalog
from skimage import data

from witnessbox import executor as ex
from witnessbox.errors import UsageError
from witnessbox.redact import pipeline
from witnessbox.redact.pipeline import FileResult, Redactor, RedactOptions

pytestmark = pytest.mark.timeout(600)


def _setup_counter(calls: list[int]) -> int:
    calls.append(1)
    return 10


def _add(state: int, item: int) -> int:
    return state + item


def test_local_executor_keeps_order_and_sets_up_once() -> None:
    calls: list[int] = []
    out = ex.LocalExecutor().map(_add, [3, 1, 2], setup=functools.partial(_setup_counter, calls))
    assert out == [13, 11, 12] and calls == [1]
    assert ex.LocalExecutor().map(_add, [], setup=functools.partial(_setup_counter, calls)) == [] and calls == [1]


@pytest.mark.parametrize("value, expected", [("", "local"), ("local", "local"), (" LOCAL ", "local")])
def test_executor_from_env_defaults_to_local(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", value)
    assert ex.executor_from_env().name == expected


def test_unknown_executor_lists_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "dask")
    with pytest.raises(UsageError, match="local, ray"):
        ex.executor_from_env()


# -- Ray -----------------------------------------------------------------------------------------


def _media(folder: Path) -> list[Path]:
    folder.mkdir()
    out = []
    for i, img in enumerate((data.astronaut(), data.chelsea(), data.coffee())):
        p = folder / f"photo{i}.jpg"
        Image.fromarray(img).resize((320, 320)).save(p, quality=90)
        out.append(p)
    video = folder / "clip.mp4"
    rgb = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)))
    with av.open(str(video), "w") as f:
        st = f.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 256, 256, "yuv420p"
        for k in range(20):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(rgb, 4 * k, axis=1)), format="rgb24")
            for pkt in st.encode(frame):
                f.mux(pkt)
        for pkt in st.encode():
            f.mux(pkt)
    out.append(video)
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def ray_executor(ray_cluster: str) -> ex.RayExecutor:
    import ray.cloudpickle

    executor = ex.RayExecutor(ray_cluster)
    # Workers cannot import this test module: its helper functions travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return executor


def test_ray_cluster_has_two_nodes_on_loopback(ray_executor: ex.RayExecutor) -> None:
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    assert ray_executor.workers == 2
    assert ray_executor.map(_add, [1, 2], setup=functools.partial(int, 5)) == [6, 7]  # workers started
    # imap reads its items lazily, a few ahead of the workers, and keeps their order
    assert list(ray_executor.imap(_add, (i for i in range(9)), setup=functools.partial(int, 5))) == list(range(5, 14))
    assert list(ray_executor.imap(_add, iter([]), setup=functools.partial(int, 5))) == []
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp: cannot list listening sockets here")
    assert listening_beyond_loopback() == []
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_ray_redaction_is_byte_identical_to_local(ray_executor: ex.RayExecutor, tmp_path: Path) -> None:
    inputs = _media(tmp_path / "in")
    local = Redactor(RedactOptions()).redact_paths(inputs, tmp_path / "local")
    remote = Redactor(RedactOptions()).redact_paths(inputs, tmp_path / "ray", executor=ray_executor)
    assert not local.failed and not remote.failed
    assert [r.source for r in remote.done] == [r.source for r in local.done] == inputs
    assert len(_digests(tmp_path / "ray")) == 3 * len(inputs)  # each copy, its regions and its suggestions file
    assert _digests(tmp_path / "ray") == _digests(tmp_path / "local")


def test_ray_failures_come_back_per_file(ray_executor: ex.RayExecutor, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    bad = tmp_path / "in" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    rep = Redactor(RedactOptions()).redact_paths([bad], tmp_path / "out", executor=ray_executor)
    assert not rep.done and [f.source for f in rep.failed] == [bad] and "broken.jpg" in rep.failed[0].error
    assert not any((tmp_path / "out").rglob("*"))  # fail closed on the worker too


def _die_once_mid_file(marker: Path, redactor: Redactor, job: tuple[Path, Path, Path | None]) -> object:
    """The first attempt's worker process dies abruptly (as kill -9) while the video is encoded."""
    if job[0].suffix == ".mp4" and not marker.exists():
        marker.write_text(str(os.getpid()))
        threading.Timer(0.5, lambda: os._exit(9)).start()
    return pipeline._redact_task(redactor, job)


def test_ray_worker_killed_mid_redaction_is_retried(ray_executor: ex.RayExecutor, tmp_path: Path) -> None:
    inputs = _media(tmp_path / "in")
    Redactor(RedactOptions()).redact_paths(inputs, tmp_path / "local")
    marker = tmp_path / "died"
    redactor = Redactor(RedactOptions())
    jobs = [(p, tmp_path / "ray" / pipeline.output_name(p), None) for p in inputs]
    (tmp_path / "ray").mkdir()
    results = ray_executor.map(functools.partial(_die_once_mid_file, marker), jobs,
                               setup=functools.partial(pipeline._task_redactor, redactor.options))
    assert marker.exists(), "the worker was never killed: the test checked nothing"
    assert all(isinstance(r, FileResult) for r in results)
    assert _digests(tmp_path / "ray") == _digests(tmp_path / "local")  # complete, nothing half-written


def test_ray_fingerprints_match_local(ray_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.workspace import Workspace

    inputs = _media(tmp_path / "in")
    ws = Workspace.init(tmp_path / "archive", "correct horse battery staple")
    ws.add(inputs)
    shas = [r.sha256 for r in ws.items()]
    local = {s: ws.tracing.fingerprints(s) for s in shas}
    assert all(f is not None and f.hashes for f in local.values())
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    n_before = len(ws.log())
    lose_catalog(ws)
    ws.close()
    w2 = Workspace.open(tmp_path / "archive", "correct horse battery staple")
    assert w2.reindex() == len(inputs)
    assert {s: w2.tracing.fingerprints(s) for s in shas} == local
    assert len(w2.log()) == n_before  # workers never write the custody log
    assert not any((tmp_path / "archive" / "tmp").iterdir())  # decrypted originals removed
    w2.close()


# -- add and verify on Ray -------------------------------------------------------------------------

PASS = "correct horse battery staple"


def _add_inputs(folder: Path) -> list[Path]:
    inputs = _media(folder)
    (folder / "copy-of-photo0.jpg").write_bytes(inputs[0].read_bytes())  # a duplicate in the batch
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # refused by the probe
    (folder / "notes.txt").write_text("an ordinary file\n")
    # a ProofMode bundle beside its media (kept as sidecars by the driver), and a proof file
    # no media claims (sealed as an ordinary item, by the driver too)
    phone = folder / "phone"
    phone.mkdir()
    Image.fromarray(data.rocket()).resize((200, 150)).save(phone / "IMG_0001.jpg", quality=90)
    h = hashlib.sha256((phone / "IMG_0001.jpg").read_bytes()).hexdigest()
    (phone / f"{h}.proof.json").write_text(json.dumps({"File Hash SHA256": h}))
    (phone / f"{h}.asc").write_text("not a real signature")
    (phone / f"{'0' * 64}.proof.json").write_text("{}")
    return inputs


def _deterministic(ws: object) -> dict[str, object]:
    """What a Ray add must share with a local add of the same files (the age ciphertext, the
    times and the record hashes in the log differ from run to run by design)."""
    from witnessbox.workspace import Workspace

    assert isinstance(ws, Workspace)
    records = sorted((r.sha256, r.sha512, r.size, r.name, r.media_type, r.metadata, r.sensitive, r.encrypted)
                     for r in ws.items())
    entries = ws.log()
    assert entries[0].action == "init"  # its archive and key ids are each archive's own
    log = [(e.action, e.objects, {k: v for k, v in e.details.items() if k != "record_sha256"}) for e in entries[1:]]
    fps = {r.sha256: ws.tracing.fingerprints(r.sha256) for r in ws.items()}
    return {"records": records, "log": log, "fingerprints": fps}


def _use_ray(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "ray")
    monkeypatch.setenv("RAY_ADDRESS", address)


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in (root / "tmp").rglob("*") if p.is_file()]


def test_ray_add_matches_local(ray_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.workspace import Workspace

    _add_inputs(tmp_path / "in")
    local = Workspace.init(tmp_path / "local", PASS)
    rep_local = local.add([tmp_path / "in"])
    _use_ray(monkeypatch, ray_cluster)
    remote = Workspace.init(tmp_path / "ray", PASS)
    rep_ray = remote.add([tmp_path / "in"])
    assert len(rep_ray.added) == 7 and len(rep_ray.duplicates) == 1 and len(rep_ray.failed) == 1
    assert [r.sha256 for r in rep_ray.added] == [r.sha256 for r in rep_local.added]  # input order
    assert rep_ray.failed == rep_local.failed and rep_ray.duplicates == rep_local.duplicates
    assert rep_ray.warnings == rep_local.warnings and rep_ray.proofmode == rep_local.proofmode
    assert len(rep_ray.proofmode) == 1 and len(rep_ray.proofmode[0].sidecars) == 2
    assert _deterministic(remote) == _deterministic(local)
    assert all(remote.tracing.fingerprints(r.sha256) is not None for r in rep_ray.added)
    v = remote.verify()  # on Ray too
    assert v.ok, v.problems
    assert _tmp_files(tmp_path / "ray") == []  # every staged file committed or discarded
    if Path("/proc/net/tcp").exists():
        assert listening_beyond_loopback() == []  # the workers of add and verify too
    for r in rep_ray.added:  # the plaintext sealed on the workers decrypts to the input
        with remote.open_original(r.sha256) as f:
            assert hashlib.sha256(f.read()).hexdigest() == r.sha256
    remote.close()
    local.close()


def _die_once_after_staging(marker: Path, task: object, state: None, job: object) -> object:
    """The first attempt for the video stages it, then its worker process dies (as kill -9)
    before answering: a staged file nobody will commit is left behind in tmp/."""
    result = task(state, job)  # type: ignore[operator]
    if str(getattr(job, "path", "")).endswith(".mp4") and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(9)
    return result


def test_ray_worker_killed_mid_add_is_retried(ray_cluster: str, ray_executor: ex.RayExecutor, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.workspace import Workspace, _fanout

    _add_inputs(tmp_path / "in")
    local = Workspace.init(tmp_path / "local", PASS)
    local.add([tmp_path / "in"])
    marker = tmp_path / "died"
    monkeypatch.setattr(_fanout, "_prepare_task",
                        functools.partial(_die_once_after_staging, marker, _fanout._prepare_task))
    _use_ray(monkeypatch, ray_cluster)
    remote = Workspace.init(tmp_path / "ray", PASS)
    rep = remote.add([tmp_path / "in"])
    assert marker.exists(), "the worker was never killed: the test checked nothing"
    assert len(rep.added) == 7 and not rep.failed[1:]
    assert _deterministic(remote) == _deterministic(local)  # each file sealed once, nothing lost
    assert list((tmp_path / "ray" / "pending").glob("*.json")) == []  # nothing half-sealed
    assert remote.verify().ok
    with remote.transaction():  # the next command's recovery removes the dead attempt's staging
        pass
    assert _tmp_files(tmp_path / "ray") == []
    remote.close()
    local.close()


def _flip(path: Path, offset: int) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("encrypted", [True, False])
def test_ray_verify_names_the_same_problems_as_local(ray_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     encrypted: bool) -> None:
    from witnessbox.workspace import Workspace

    inputs = _media(tmp_path / "in")
    ws = Workspace.init(tmp_path / "archive", PASS, encrypted=encrypted)
    added = ws.add(inputs).added
    clean_local = ws.verify()
    _use_ray(monkeypatch, ray_cluster)
    clean_ray = ws.verify()
    assert clean_ray.ok and clean_ray == clean_local
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "local")
    _flip(ws.store.blob_path(added[0].sha256), -5)  # payload
    _flip(ws.store.blob_path(added[1].sha256), 40)  # header (encrypted) or plaintext
    ws.store.blob_path(added[2].sha256).unlink()
    local = ws.verify()
    _use_ray(monkeypatch, ray_cluster)
    remote = ws.verify()
    assert remote == local
    named = {p.object for p in remote.problems}
    assert {f"item {added[i].sha256}" for i in range(3)} <= named and f"item {added[3].sha256}" not in named
    ws.close()


def _always_fails(_state: None, job: object) -> object:
    raise RuntimeError("this worker is broken")


def test_ray_verify_checks_locally_when_the_workers_fail(ray_cluster: str, ray_executor: ex.RayExecutor, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.workspace import Workspace, _fanout

    ws = Workspace.init(tmp_path / "archive", PASS)
    added = ws.add(_media(tmp_path / "in")).added
    _flip(ws.store.blob_path(added[1].sha256), -5)
    local = ws.verify()
    monkeypatch.setattr(_fanout, "_hash_task", _always_fails)
    _use_ray(monkeypatch, ray_cluster)
    remote = ws.verify()
    assert remote.problems == local.problems and remote.items_checked == local.items_checked
    assert any("cluster stopped checking blobs" in n for n in remote.notes)
    ws.close()
