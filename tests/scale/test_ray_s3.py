"""Ray and S3 together: the batch work of `add`, `redact`, `reindex` and `verify` on a two-node
Ray cluster (127.0.0.1) for an archive whose store is a real SeaweedFS and whose catalog is a
real PostgreSQL, giving what the local executor gives on the same archive setup; and a Ray
worker killed in the middle of an `add` to S3 leaving a complete archive.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from _servers import PostgresServer, SeaweedServer, listening_beyond_loopback, lose_catalog
from PIL import Image
from skimage import data

from witnessbox import executor as ex
from witnessbox.ledger.store import ObjectBlobs
from witnessbox.redact.pipeline import Redactor, RedactOptions
from witnessbox.workspace import Workspace

# Two minutes of a two-node cluster: `make test` leaves it to `.ci/run`'s PostgreSQL + S3 pass
# (WITNESSBOX_TEST_STORE=s3), the one whose servers it needs; run it alone with that switch.
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("WITNESSBOX_TEST_STORE", "").strip().lower() != "s3",
                                 reason="runs in .ci/run's PostgreSQL + S3 pass (set WITNESSBOX_TEST_STORE=s3)")]

PASS = "correct horse battery staple"


def _inputs(folder: Path) -> list[Path]:
    """Three photos, a short video, a duplicate, a broken photo, a text file, and a ProofMode
    bundle beside its media."""
    folder.mkdir()
    out = []
    for i, img in enumerate((data.astronaut(), data.chelsea(), data.coffee())):
        p = folder / f"photo{i}.jpg"
        Image.fromarray(img).resize((256, 256)).save(p, quality=90)
        out.append(p)
    video = folder / "clip.mp4"
    rgb = np.asarray(Image.fromarray(data.astronaut()).resize((192, 192)))
    with av.open(str(video), "w") as f:
        st = f.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 192, 192, "yuv420p"
        for k in range(12):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(rgb, 4 * k, axis=1)), format="rgb24")
            for pkt in st.encode(frame):
                f.mux(pkt)
        for pkt in st.encode():
            f.mux(pkt)
    out.append(video)
    (folder / "copy-of-photo0.jpg").write_bytes(out[0].read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("an ordinary file\n")
    phone = folder / "phone"
    phone.mkdir()
    Image.fromarray(data.rocket()).resize((200, 150)).save(phone / "IMG_0001.jpg", quality=90)
    h = hashlib.sha256((phone / "IMG_0001.jpg").read_bytes()).hexdigest()
    (phone / f"{h}.proof.json").write_text(json.dumps({"File Hash SHA256": h}))
    (phone / f"{h}.asc").write_text("not a real signature")
    return out


def _deterministic(ws: Workspace) -> dict[str, object]:
    """What two runs of `add` on the same files share (the age ciphertext, the times and so the
    record hashes differ from run to run by design, as between two local runs)."""
    records = sorted((r.sha256, r.sha512, r.size, r.name, r.media_type, r.metadata, r.sensitive, r.encrypted, r.sidecars)
                     for r in ws.items())
    entries = ws.log()
    log = [(e.action, e.objects, {k: v for k, v in e.details.items() if k != "record_sha256"}) for e in entries[1:]]
    fps = {r.sha256: ws.tracing.fingerprints(r.sha256) for r in ws.items()}
    return {"records": records, "log": log, "fingerprints": fps}


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _stored(ws: Workspace) -> dict[str, str]:
    """Every blob on S3, by name, with the SHA-256 of the plaintext it decrypts to."""
    blobs = ws.store.blobs
    assert isinstance(blobs, ObjectBlobs)
    out = {}
    for name in blobs.names():
        sha = name.rsplit("/", 1)[-1].split(".")[0]
        with ws.open_original(sha) as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture
def s3_and_pg(seaweedfs: SeaweedServer, postgres_server: PostgresServer,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[functools.partial[Workspace]]:
    """Makes archives on one bucket of the SeaweedFS, each with its own PostgreSQL schema."""
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "local")
    for k, v in {"WITNESSBOX_STORE_URL": f"s3://wb-ray-{uuid.uuid4().hex[:10]}/archives",
                 "AWS_ENDPOINT_URL": seaweedfs.endpoint, "AWS_REGION": "us-east-1",
                 "AWS_ACCESS_KEY_ID": "witnessbox-test", "AWS_SECRET_ACCESS_KEY": "witnessbox-test",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    schemas: list[str] = []

    def make(root: Path) -> Workspace:
        name, url = postgres_server.fresh_schema_url()
        schemas.append(name)
        monkeypatch.setenv("WITNESSBOX_DATABASE_URL", url)
        ws = Workspace.init(root, PASS)
        assert isinstance(ws.store.blobs, ObjectBlobs) and ws.mirror is not None and ws.database_url == url
        return ws

    yield functools.partial(make)
    for name in schemas:
        postgres_server.drop_schema(name)


def _use(monkeypatch: pytest.MonkeyPatch, ws: Workspace, executor: str, ray_address: str) -> None:
    """Point the environment at ``ws``'s catalog and the given executor."""
    assert ws.database_url
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", ws.database_url)
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", executor)
    monkeypatch.setenv("RAY_ADDRESS", ray_address)


def test_ray_add_redact_reindex_verify_on_s3_and_postgresql(ray_cluster: str, s3_and_pg: functools.partial[Workspace],
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _inputs(tmp_path / "in")
    local = s3_and_pg(tmp_path / "local")
    _use(monkeypatch, local, "local", ray_cluster)
    rep_local = local.add([tmp_path / "in"])
    remote = s3_and_pg(tmp_path / "ray")
    _use(monkeypatch, remote, "ray", ray_cluster)

    # add: workers stage and fingerprint, the driver uploads to S3 and commits to PostgreSQL.
    rep_ray = remote.add([tmp_path / "in"])
    assert len(rep_ray.added) == 6 and len(rep_ray.duplicates) == 1 and len(rep_ray.failed) == 1
    assert [r.sha256 for r in rep_ray.added] == [r.sha256 for r in rep_local.added]
    assert rep_ray.failed == rep_local.failed and rep_ray.duplicates == rep_local.duplicates
    assert rep_ray.warnings == rep_local.warnings and rep_ray.proofmode == rep_local.proofmode
    assert _deterministic(remote) == _deterministic(local)
    assert not list((remote.root / "blobs").rglob("*.age"))  # every blob on S3, none in the folder
    stored = _stored(remote)
    assert sorted(stored.values()) == sorted(r.sha256 for r in remote.items())  # plaintext byte for byte
    _use(monkeypatch, local, "local", ray_cluster)
    assert _stored(local) == stored  # same object names, same plaintext
    assert not list((remote.root / "pending").glob("*.json"))
    assert not [p for p in (remote.root / "tmp").rglob("*") if p.is_file()]

    # redact: the originals come from S3 (decrypted by the driver), the faces are hidden on the
    # workers; the copies are sealed back onto S3 as derivatives.
    outs = {}
    for name, ws, executor in (("local", local, None), ("ray", remote, ex.RayExecutor(ray_cluster))):
        _use(monkeypatch, ws, "local" if executor is None else "ray", ray_cluster)
        plain = tmp_path / f"plain-{name}"
        plain.mkdir()
        media = [r for r in ws.items() if r.media_type.startswith(("image/", "video/"))]
        for r in media:
            ws.extract(r.sha256, plain / r.name)
        rep = Redactor(RedactOptions()).redact_paths(sorted(plain.iterdir()), tmp_path / f"red-{name}", executor=executor)
        assert len(rep.done) == len(media) == 5 and not rep.failed
        outs[name] = _digests(tmp_path / f"red-{name}")
        for res, r in zip(sorted(rep.done, key=lambda x: x.source.name), sorted(media, key=lambda x: x.name), strict=True):
            d = ws.add_derivative(r.sha256, res.output, kind="redacted", method="test",
                                  sidecars={res.regions_file.name: res.regions_file}, note=None)
            assert d.parent == r.sha256
    assert outs["ray"] == outs["local"] and len(outs["ray"]) == 15  # copies, regions, suggestions
    assert _deterministic(remote) == _deterministic(local)

    # reindex: fingerprints computed on the workers from originals decrypted out of S3,
    # stored by the driver in the PostgreSQL catalog (rebuilt from the store).
    _use(monkeypatch, remote, "ray", ray_cluster)
    before = _deterministic(remote)
    n_log = len(remote.log())
    lose_catalog(remote)
    remote.close()
    remote = Workspace.open(tmp_path / "ray", PASS)
    assert remote.reindex() == len(remote.items()) == 11
    assert _deterministic(remote) == before and len(remote.log()) == n_log
    assert not [p for p in (remote.root / "tmp").rglob("*") if p.is_file()]

    # verify: on Ray, the same report as the local executor; clean on both archives.
    v_ray = remote.verify()
    assert v_ray.ok, v_ray.problems
    monkeypatch.setenv("WITNESSBOX_EXECUTOR", "local")
    assert remote.verify() == v_ray
    _use(monkeypatch, local, "local", ray_cluster)
    v_local = local.verify()
    assert v_local.ok and v_local.items_checked == v_ray.items_checked and v_local.tree_size == v_ray.tree_size
    if Path("/proc/net/tcp").exists():
        assert listening_beyond_loopback() == []
    remote.close()
    local.close()


def _die_once_after_staging(marker: Path, task: object, state: None, job: object) -> object:
    """The first attempt for the video stages it, then its worker process dies (as kill -9)."""
    result = task(state, job)  # type: ignore[operator]
    if str(getattr(job, "path", "")).endswith(".mp4") and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(9)
    return result


def test_ray_worker_killed_mid_add_to_s3_leaves_a_complete_archive(
        ray_cluster: str, s3_and_pg: functools.partial[Workspace], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray.cloudpickle

    from witnessbox.workspace import _fanout

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this module
    inputs = _inputs(tmp_path / "in")
    marker = tmp_path / "died"
    monkeypatch.setattr(_fanout, "_prepare_task", functools.partial(_die_once_after_staging, marker, _fanout._prepare_task))
    ws = s3_and_pg(tmp_path / "ray")
    _use(monkeypatch, ws, "ray", ray_cluster)
    rep = ws.add([tmp_path / "in"])
    assert marker.exists(), "the worker was never killed: the test checked nothing"
    assert len(rep.added) == 6 and len(rep.duplicates) == 1 and len(rep.failed) == 1
    want = {hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs}
    assert want <= {r.sha256 for r in rep.added}
    # each file sealed once, every item wholly present on S3, nothing half-sealed
    assert sorted(e.objects[0] for e in ws.log() if e.action == "add") == sorted(r.sha256 for r in ws.items())
    assert _stored(ws) == {ws.store.blob_name(r.sha256): r.sha256 for r in ws.items()}
    assert not list((ws.root / "pending").glob("*.json"))
    rep_v = ws.verify()
    assert rep_v.ok, rep_v.problems
    with ws.transaction():  # the next command's recovery removes the dead attempt's staging
        pass
    assert not [p for p in (ws.root / "tmp").rglob("*") if p.is_file()]
    for p in inputs:
        with ws.open_original(hashlib.sha256(p.read_bytes()).hexdigest()) as f:
            assert f.read() == p.read_bytes()
    ws.close()
