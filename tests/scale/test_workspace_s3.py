"""An archive on S3 (a real SeaweedFS on 127.0.0.1): the same workspace, ciphertext only on
the server (blobs, log entries, checkpoints, records, sidecars), every object checked on read,
tampering named by `verify`, writers racing or killed mid-seal leaving one consistent archive,
and writers on two machines (two folders, one PostgreSQL, one bucket) keeping one chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import SeaweedServer

from witnessbox.errors import IntegrityError, StoreMismatchError, UsageError
from witnessbox.ledger.objects import AGE_MAGIC
from witnessbox.ledger.store import ObjectBlobs
from witnessbox.workspace import Workspace

PASSPHRASE = "correct horse battery staple"


def s3_env(seaweedfs: SeaweedServer, url: str) -> dict[str, str]:
    return {
        "WITNESSBOX_STORE_URL": url, "AWS_ENDPOINT_URL": seaweedfs.endpoint, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "witnessbox-test", "AWS_SECRET_ACCESS_KEY": "witnessbox-test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def store_url(seaweedfs: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"s3://wb-ws-{uuid.uuid4().hex[:10]}/archives"
    for k, v in s3_env(seaweedfs, url).items():
        monkeypatch.setenv(k, v)
    return url


@pytest.fixture
def s3_ws(tmp_path: Path, store_url: str) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "archive", PASSPHRASE)
    yield ws
    ws.close()


def _blobs(ws: Workspace) -> ObjectBlobs:
    assert isinstance(ws.store.blobs, ObjectBlobs)
    return ws.store.blobs


def _full_key(ws: Workspace, sha: str) -> tuple[str, str]:
    """(bucket, key) of an item's blob on the server."""
    s3 = _blobs(ws).s3
    return s3.bucket, f"{s3.prefix}/{ws.store.blob_name(sha)}"


def _files(d: Path, n: int, seed: int = 1, size: int = 200_000) -> list[Path]:
    rng = random.Random(seed)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = d / f"f{i}.bin"
        p.write_bytes(rng.randbytes(size + i))
        out.append(p)
    return out


def test_round_trip_keeps_only_ciphertext_on_s3(s3_ws: Workspace, tmp_path: Path, store_url: str,
                                                seaweedfs: SeaweedServer) -> None:
    ws = s3_ws
    info = json.loads((ws.root / "store.json").read_bytes())
    assert info == {"format": "witnessbox-store/1", "url": store_url, "key_prefix": ws.archive_id, "object_lock_days": None}
    init = ws.log_store.read(0)
    assert init.action == "init" and init.details["store"] == store_url

    inputs = _files(tmp_path / "in", 3)
    rep = ws.add(inputs)
    assert len(rep.added) == 3 and not rep.failed
    assert not list((ws.root / "blobs").rglob("*.age"))  # nothing sealed in the folder
    raw = seaweedfs.client()
    for p, r in zip(inputs, rep.added, strict=True):
        bucket, key = _full_key(ws, r.sha256)
        body = raw.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body.startswith(AGE_MAGIC) and p.read_bytes()[:64] not in body
        out = ws.extract(r.sha256, tmp_path / f"out-{p.name}")
        assert out.read_bytes() == p.read_bytes()
        with ws.open_original(r.sha256) as f:
            assert hashlib.sha256(f.read()).hexdigest() == r.sha256
    assert ws.add(inputs[:1]).duplicates  # sealed once
    assert ws.verify().ok
    ws.close()

    again = Workspace.open(ws.root, PASSPHRASE)  # same variables: accepted
    assert again.verify().ok
    again.close()


def test_derivatives_go_to_s3(s3_ws: Workspace, tmp_path: Path) -> None:
    [src] = _files(tmp_path / "in", 1)
    [parent] = s3_ws.add([src]).added
    red = tmp_path / "red.bin"
    red.write_bytes(b"a redacted copy " * 1000)
    side = tmp_path / "regions.json"
    side.write_text("{}")
    d = s3_ws.add_derivative(parent.sha256, red, kind="redaction", method="test", sidecars={"regions.json": side}, note=None)
    assert _blobs(s3_ws).exists(s3_ws.store.blob_name(d.sha256))
    assert (s3_ws.sidecar_dir(d.sha256) / "regions.json").is_file()  # the folder keeps its copy
    assert s3_ws.verify().ok


def test_another_or_missing_store_url_is_refused(s3_ws: Workspace, store_url: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    root = s3_ws.root
    s3_ws.close()
    monkeypatch.delenv("WITNESSBOX_STORE_URL")
    with pytest.raises(StoreMismatchError, match=f"keeps its blobs in {store_url}, and WITNESSBOX_STORE_URL is not set") as ei:
        Workspace.open(root, PASSPHRASE)
    assert "\n" not in ei.value.message
    monkeypatch.setenv("WITNESSBOX_STORE_URL", "s3://another-bucket/x")
    with pytest.raises(StoreMismatchError, match=f"keeps its blobs in {store_url}, not in s3://another-bucket/x"):
        Workspace.open(root, PASSPHRASE)
    # A folder archive is not silently moved to S3 either.
    monkeypatch.delenv("WITNESSBOX_STORE_URL")
    folder = Workspace.init(tmp_path / "folder-archive", PASSPHRASE)
    folder.close()
    monkeypatch.setenv("WITNESSBOX_STORE_URL", store_url)
    with pytest.raises(StoreMismatchError, match="keeps its blobs in its folder"):
        Workspace.open(folder.root, PASSPHRASE)


def test_a_redirected_store_json_is_named_by_verify(s3_ws: Workspace, tmp_path: Path, store_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    s3_ws.add(_files(tmp_path / "in", 1))
    root = s3_ws.root
    s3_ws.close()
    store = root / "store.json"
    info = json.loads(store.read_bytes())
    info["url"] = store_url + "-elsewhere"
    store.chmod(0o644)
    store.write_text(json.dumps(info))
    monkeypatch.setenv("WITNESSBOX_STORE_URL", store_url + "-elsewhere")
    ws = Workspace.open(root, PASSPHRASE)
    rep = ws.verify()
    problems = {p.object: p.detail for p in rep.problems}
    assert f"the archive was made with {store_url} (init log entry)" in problems["store.json"], rep.problems
    ws.close()


def test_s3_needs_encryption(store_url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ciphertext only"):
        Workspace.init(tmp_path / "a", PASSPHRASE, encrypted=False)
    assert not (tmp_path / "a").exists()


def test_object_lock_without_a_store_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WITNESSBOX_STORE_URL", raising=False)
    env = {**os.environ, "WITNESSBOX_PASSPHRASE": PASSPHRASE}
    res = subprocess.run([*_cli(), "init", "-A", str(tmp_path / "a"), "--object-lock", "30"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "--object-lock needs object storage" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()


def test_object_lock_keeps_originals(tmp_path: Path, seaweedfs: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"s3://wb-lock-{uuid.uuid4().hex[:8]}/archives"
    for k, v in s3_env(seaweedfs, url).items():
        monkeypatch.setenv(k, v)
    ws = Workspace.init(tmp_path / "archive", PASSPHRASE, object_lock_days=1)
    assert json.loads((ws.root / "store.json").read_bytes())["object_lock_days"] == 1
    [r] = ws.add(_files(tmp_path / "in", 1)).added
    bucket, key = _full_key(ws, r.sha256)
    raw = seaweedfs.client()
    head = raw.head_object(Bucket=bucket, Key=key)
    assert head.get("ObjectLockMode") == "COMPLIANCE"
    with pytest.raises(Exception) as ei:  # noqa: PT011 - botocore's ClientError
        raw.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
    assert "AccessDenied" in str(ei.value) or "locked" in str(ei.value).lower() or "retention" in str(ei.value).lower()
    assert ws.verify().ok
    ws.close()


def test_verify_names_flipped_deleted_and_stray_objects(s3_ws: Workspace, tmp_path: Path, seaweedfs: SeaweedServer) -> None:
    ws = s3_ws
    a, b, c = ws.add(_files(tmp_path / "in", 3)).added
    raw = seaweedfs.client()
    # Flipped: a byte changed and written back behind witnessbox's back (without a SHA-256).
    bucket, key = _full_key(ws, a.sha256)
    data = bytearray(raw.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[-1] ^= 1
    raw.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    # Deleted.
    bucket, key_b = _full_key(ws, b.sha256)
    raw.delete_object(Bucket=bucket, Key=key_b)
    # Replaced together with a matching checksum: caught by decryption / the record's hashes.
    bucket, key_c = _full_key(ws, c.sha256)
    other = bytearray(raw.get_object(Bucket=bucket, Key=key_c)["Body"].read())
    other[-1] ^= 1
    raw.put_object(Bucket=bucket, Key=key_c, Body=bytes(other),
                   ChecksumSHA256=base64.b64encode(hashlib.sha256(bytes(other)).digest()).decode())
    # A stray object nobody logged.
    stray = "ab" * 32
    raw.put_object(Bucket=bucket, Key=f"{_blobs(ws).s3.prefix}/blobs/ab/{stray}.age", Body=AGE_MAGIC + b"x")
    rep = ws.verify()
    problems = {p.object: p.detail for p in rep.problems}
    assert not rep.ok
    assert "carries no SHA-256 checksum" in problems[f"item {a.sha256}"]
    assert "missing" in problems[f"item {b.sha256}"]
    assert f"item {c.sha256}" in problems
    assert "not in the custody log" in problems[f"blob {stray}.age"]
    assert len(rep.problems) == 4, rep.problems
    with pytest.raises(IntegrityError, match="carries no SHA-256 checksum"):
        ws.extract(a.sha256, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- processes: racing writers, kill -9 mid-seal ----------------------------------------------

def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("witnessbox")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "witnessbox"]


def _proc_env(root: Path) -> dict[str, str]:
    return {**os.environ, "WITNESSBOX_PASSPHRASE": PASSPHRASE, "WITNESSBOX_ARCHIVE": str(root)}


def _stored_blobs(ws: Workspace) -> list[str]:
    return _blobs(ws).names()


def test_two_writers_racing_for_one_file_seal_it_once(s3_ws: Workspace, tmp_path: Path) -> None:
    root = s3_ws.root
    s3_ws.close()
    [f] = _files(tmp_path / "in", 1, size=3_000_000)
    env = _proc_env(root)
    procs = [subprocess.Popen([*_cli(), "add", "--json", str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    reports = [json.loads(o[0]) for o in outs]
    assert sorted(len(r["added"]) for r in reports) == [0, 1]
    assert sorted(len(r["duplicates"]) for r in reports) == [0, 1]
    ws = Workspace.open(root, PASSPHRASE)
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    assert [r.sha256 for r in ws.items()] == [sha]
    assert _stored_blobs(ws) == [ws.store.blob_name(sha)]
    assert ws.verify().ok
    ws.close()


_KILL_AFTER_UPLOAD = """
import os, signal, sys
from witnessbox.ledger import store
real = store.ObjectBlobs.put_file_once
def put_then_die(self, *a, **k):
    real(self, *a, **k)
    os.kill(os.getpid(), signal.SIGKILL)  # uploaded; its log entry never written
store.ObjectBlobs.put_file_once = put_then_die
from witnessbox.cli import main
main(sys.argv[1:])
"""


def test_writer_killed_after_the_upload_leaves_no_object(s3_ws: Workspace, tmp_path: Path) -> None:
    root = s3_ws.root
    [kept] = s3_ws.add(_files(tmp_path / "first", 1, seed=7)).added
    s3_ws.close()
    [f] = _files(tmp_path / "in", 1, seed=2)
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    res = subprocess.run([sys.executable, "-c", _KILL_AFTER_UPLOAD, "add", str(f)], env=_proc_env(root),
                         capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    ws = Workspace.open(root, PASSPHRASE)
    ws.add([])  # any write runs recovery under the lock
    assert _stored_blobs(ws) == [ws.store.blob_name(kept.sha256)]  # the unsealed upload is gone
    assert sha not in {r.sha256 for r in ws.items()}
    assert ws.verify().ok
    assert ws.add([f]).added  # and it can be sealed again
    assert ws.verify().ok
    ws.close()


@pytest.mark.slow
def test_killing_a_real_add_at_random_moments(s3_ws: Workspace, tmp_path: Path) -> None:
    root = s3_ws.root
    s3_ws.close()
    env = _proc_env(root)
    rng = random.Random(20261206)
    t0 = time.monotonic()
    subprocess.run([*_cli(), "add", str(_files(tmp_path / "calib", 3, seed=99)[0].parent)], env=env, check=True,
                   capture_output=True, timeout=300)
    span = time.monotonic() - t0
    inputs: list[Path] = []
    kills = 0
    for i in range(8):
        batch = _files(tmp_path / f"b{i}", 3, seed=i, size=rng.choice([50_000, 1_000_000, 3_000_000]))
        inputs += batch
        proc = subprocess.Popen([*_cli(), "add", str(tmp_path / f"b{i}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2 * span, 1.0 * span))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=120)
    assert kills >= 3, f"only {kills} of 8 runs were still running when killed"
    ws = Workspace.open(root, PASSPHRASE)
    ws.add([])  # recovery
    rep = ws.verify()
    assert rep.ok, rep.problems
    sealed = {r.sha256 for r in ws.items()}
    stored = set(_stored_blobs(ws))
    assert stored == {ws.store.blob_name(s) for s in sealed}  # every item wholly present or absent
    for p in inputs:
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        assert (sha in sealed) == ws.record_path(sha).exists()
    ws.close()


# -- the custody log, checkpoints, records and sidecars as objects ----------------------------

def _all_objects(ws: Workspace | tuple[str, str], seaweedfs: SeaweedServer) -> dict[str, bytes]:
    """Every object of the archive on the server (or under (bucket, prefix)), by key relative
    to its prefix."""
    raw = seaweedfs.client()
    s3 = _blobs(ws).s3 if isinstance(ws, Workspace) else type("At", (), {"bucket": ws[0], "prefix": ws[1]})
    out = {}
    for page in raw.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=s3.prefix + "/"):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(s3.prefix) + 1:]] = raw.get_object(Bucket=s3.bucket, Key=obj["Key"])["Body"].read()
    return out


def _meta_inputs(tmp_path: Path) -> list[Path]:
    files = _files(tmp_path / "in", 2, seed=5)
    named = [p.rename(p.with_name(f"secret-name-{i}.bin")) for i, p in enumerate(files)]
    return named


def test_log_checkpoints_records_and_sidecars_are_ciphertext_objects(s3_ws: Workspace, tmp_path: Path,
                                                                      seaweedfs: SeaweedServer) -> None:
    ws = s3_ws
    a, b = ws.add(_meta_inputs(tmp_path), note="note-nobody-may-read").added
    red = tmp_path / "red.bin"
    red.write_bytes(b"a redacted copy " * 1000)
    side = tmp_path / "regions.json"
    side.write_text('{"face": "region-secret"}')
    d = ws.add_derivative(a.sha256, red, kind="redaction", method="test", sidecars={"regions.json": side}, note=None)
    ws.attach_sidecar(b.sha256, "proof.txt", b"proof-secret")
    objects = _all_objects(ws, seaweedfs)
    size = ws.log_store.size()
    want = {ws.log_store.entry_name(s) + ".age" for s in range(size)}
    for sha in (a.sha256, b.sha256, d.sha256):
        rec = f"records/{sha[:2]}/{sha}.json"
        want |= {rec + ".age", rec + ".sig.age"}
    want |= {f"sidecars/{d.sha256[:2]}/{d.sha256}/regions.json.age", f"sidecars/{b.sha256[:2]}/{b.sha256}/proof.txt.age"}
    want |= {f"log/checkpoints/{c:012d}.json{x}.age" for c in ws.checkpoint_sizes() for x in ("", ".sig")}
    assert want <= set(objects), sorted(want - set(objects))
    for key, body in objects.items():
        assert body.startswith(AGE_MAGIC), key
        for secret in (b"secret-name", b"note-nobody-may-read", b"region-secret", b"proof-secret", b'"action"'):
            assert secret not in body, key
    # The folder keeps its plaintext copy, byte for byte what the store decrypts to.
    mirror = ws.mirror
    assert mirror is not None
    for s in range(size):
        assert mirror.get(ws.log_store.entry_name(s)) == ws.log_store.entry_path(s).read_bytes()
    rec_path = ws.record_path(d.sha256)
    assert mirror.get(f"records/{d.sha256[:2]}/{d.sha256}.json") == rec_path.read_bytes()
    assert ws.verify().ok
    # Create-once: the same entry cannot be written twice.
    assert not mirror.put(ws.log_store.entry_name(1), b"{}")
    # The folder's copy changed while the object is intact: named too (readers use the copy).
    entry = ws.log_store.entry_path(1)
    entry.chmod(0o644)
    entry.write_bytes(entry.read_bytes().replace(b'"actor":"', b'"actor":"X'))
    problems = {p.object: p.detail for p in ws.verify().problems}
    assert list(problems) == ["log entry 1"] and "differs from its object in the store" in problems["log entry 1"]


def test_verify_names_flipped_deleted_and_stray_metadata_objects(s3_ws: Workspace, tmp_path: Path,
                                                                 seaweedfs: SeaweedServer) -> None:
    ws = s3_ws
    a, b = ws.add(_meta_inputs(tmp_path)).added
    ws.attach_sidecar(b.sha256, "proof.txt", b"proof")
    raw = seaweedfs.client()
    s3 = _blobs(ws).s3

    def full(name: str) -> str:
        return f"{s3.prefix}/{name}"

    seq_a = next(e.seq for e in ws.log() if e.action == "add" and e.objects[0] == a.sha256)
    # Flipped: log entry of a, rewritten behind witnessbox's back (no checksum).
    key = full(ws.log_store.entry_name(seq_a) + ".age")
    body = bytearray(raw.get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    body[-1] ^= 1
    raw.put_object(Bucket=s3.bucket, Key=key, Body=bytes(body))
    # Deleted: b's record signature and its attached sidecar.
    raw.delete_object(Bucket=s3.bucket, Key=full(f"records/{b.sha256[:2]}/{b.sha256}.json.sig.age"))
    raw.delete_object(Bucket=s3.bucket, Key=full(f"sidecars/{b.sha256[:2]}/{b.sha256}/proof.txt.age"))
    # Stray: a record nobody logged, and a checkpoint object of a size that never was.
    stray = "cd" * 32
    raw.put_object(Bucket=s3.bucket, Key=full(f"records/cd/{stray}.json.age"), Body=AGE_MAGIC + b"x",
                   ChecksumSHA256=base64.b64encode(hashlib.sha256(AGE_MAGIC + b"x").digest()).decode())
    rep = ws.verify()
    problems = {p.object: p.detail for p in rep.problems}
    assert not rep.ok
    assert "carries no SHA-256 checksum" in problems[f"log entry {seq_a}"], problems
    assert "missing" in problems[f"item {b.sha256}"]
    assert f"object records/cd/{stray}.json.age" in problems
    # The folder's copies are intact: only the store's objects were touched, and verify read those.
    assert ws.log_store.read_bytes(seq_a) == ws.log_store.entry_path(seq_a).read_bytes()


# -- many writers: two machines (two folders), one PostgreSQL catalog, one bucket --------------

def _second_machine(root: Path, other: Path) -> Path:
    """What a second machine holds of an archive: its header, keys and store.json, no more
    (no shared folder: the log, records and sidecars come from the store)."""
    other.mkdir(parents=True)
    for name in ("archive.json", "archive.json.sig", "store.json"):
        shutil.copy2(root / name, other / name)
    shutil.copytree(root / "keys", other / "keys")
    return other


def test_two_machines_add_at_once_one_chain(tmp_path: Path, store_url: str, postgres_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    a_root = tmp_path / "machine-a" / "archive"
    Workspace.init(a_root, PASSPHRASE).close()
    b_root = _second_machine(a_root, tmp_path / "machine-b" / "archive")
    files = _files(tmp_path / "in", 10, seed=11, size=300_000)
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    # Overlapping batches, several `add` commands per machine so that they interleave.
    batches = {
        "machine-a": [files[0:3], files[3:5], files[5:7]],
        "machine-b": [files[9:7:-1], files[7:5:-1], files[5:2:-1]],
    }
    procs = []
    for (actor, runs), root in zip(batches.items(), (a_root, b_root), strict=True):
        script = " && ".join(" ".join([*map(shlex.quote, _cli()), "add", *(shlex.quote(str(p)) for p in run)])
                             for run in runs)
        env = {**_proc_env(root), "WITNESSBOX_ACTOR": actor}
        procs.append(subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode(errors="replace")[-2000:] for o in outs]

    for root in (a_root, b_root):
        ws = Workspace.open(root, PASSPHRASE)
        entries = ws.log()
        adds = [e.objects[0] for e in entries if e.action == "add"]
        assert sorted(adds) == sorted(shas)  # each file sealed once
        assert sum(e.action == "receive-duplicate" for e in entries) == 4  # the overlap: received twice
        assert {e.actor for e in entries if e.action == "add"} == {"machine-a", "machine-b"}
        assert [e.seq for e in entries] == list(range(len(entries)))
        assert {r.sha256 for r in ws.items()} == shas
        assert sorted(_stored_blobs(ws)) == sorted(ws.store.blob_name(s) for s in shas)
        rep = ws.verify()
        assert rep.ok, rep.problems
        assert rep.tree_size == 1 + 10 + 4
        ws.close()
    # After a write each folder holds the same chain, byte for byte.
    copies = []
    for root in (a_root, b_root):
        ws = Workspace.open(root, PASSPHRASE)
        ws.add([])
        copies.append([ws.log_store.entry_path(s).read_bytes() for s in range(ws.log_store.size())])
        assert all(ws.record_path(s).is_file() for s in shas)
        ws.close()
    assert copies[0] == copies[1]


_KILL_AFTER_RECORD_OBJECT = """
import os, signal, sys
from witnessbox.ledger import mirror
real = mirror.ObjectMirror.put
def put_then_die(self, name, *a, **k):
    out = real(self, name, *a, **k)
    if name.startswith("records/") and name.endswith(".json"):
        os.kill(os.getpid(), signal.SIGKILL)  # blob, sidecar and record objects stored; no log entry
    return out
mirror.ObjectMirror.put = put_then_die
from witnessbox.cli import main
main(sys.argv[1:])
"""


def test_writer_killed_mid_seal_with_postgresql_leaves_no_object(tmp_path: Path, store_url: str, postgres_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 seaweedfs: SeaweedServer) -> None:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    ws = Workspace.init(tmp_path / "archive", PASSPHRASE)
    root = ws.root
    at = (_blobs(ws).s3.bucket, _blobs(ws).s3.prefix)
    [kept] = ws.add(_files(tmp_path / "first", 1, seed=7)).added
    ws.close()
    [f] = _meta_inputs(tmp_path)[:1]
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    res = subprocess.run([sys.executable, "-c", _KILL_AFTER_RECORD_OBJECT, "add", str(f)], env=_proc_env(root),
                         capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    left = [k for k in _all_objects(at, seaweedfs) if sha in k]  # the killed writer's objects, uncommitted
    assert {k.split("/")[0] for k in left} == {"blobs", "records", "pending"}, left  # the marker is an object too
    ws = Workspace.open(root, PASSPHRASE)
    ws.add([])  # recovery under the folder's flock and the advisory lock (the dead writer's is gone)
    assert not any(sha in k for k in _all_objects(ws, seaweedfs))
    assert sha not in {r.sha256 for r in ws.items()} and kept.sha256 in {r.sha256 for r in ws.items()}
    rep = ws.verify()
    assert rep.ok, rep.problems
    assert ws.add([f]).added  # and it can be sealed again
    assert ws.verify().ok
    ws.close()


def test_a_writer_on_another_machine_waits_for_the_advisory_lock(tmp_path: Path, store_url: str, postgres_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from witnessbox.errors import LockedError

    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    a = Workspace.init(tmp_path / "a" / "archive", PASSPHRASE)
    b = Workspace.open(_second_machine(a.root, tmp_path / "b" / "archive"), PASSPHRASE)
    with a.transaction():  # machine A writes; B's folder lock is free, the archive's is not
        with pytest.raises(LockedError), b._writer_lock(wait=False):
            pass
    with b._writer_lock(wait=False):
        pass
    a.close()
    b.close()


@pytest.mark.parametrize("same_seq", [True, False], ids=["at-the-dead-writers-seq", "later"])
def test_a_killed_writer_recovering_later_keeps_what_another_machine_sealed(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, same_seq: bool) -> None:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    a_root = tmp_path / "machine-a" / "archive"
    Workspace.init(a_root, PASSPHRASE).close()
    b_root = _second_machine(a_root, tmp_path / "machine-b" / "archive")
    [f] = _meta_inputs(tmp_path)[:1]
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    # Machine A dies mid-seal (its marker and its copies stay in its folder, its objects in the store).
    res = subprocess.run([sys.executable, "-c", _KILL_AFTER_RECORD_OBJECT, "add", str(f)], env=_proc_env(a_root),
                         capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, (res.returncode, res.stdout, res.stderr)
    assert list((a_root / "pending").glob("*.json"))
    # Machine B seals the same file meanwhile (A's orphan objects are replaced by B's).
    b = Workspace.open(b_root, PASSPHRASE)
    first = [] if same_seq else b.add(_files(tmp_path / "other", 1, seed=3)).added
    assert [r.sha256 for r in b.add([f]).added] == [sha]
    committed = b.record_path(sha).read_bytes()
    # Machine A comes back: its recovery must not delete what B committed.
    a = Workspace.open(a_root, PASSPHRASE)
    a.add([])
    assert not list((a_root / "pending").glob("*.json"))
    assert a.record_path(sha).read_bytes() == committed  # its stale copy replaced by the committed one
    for ws in (a, b):
        rep = ws.verify()
        assert rep.ok, rep.problems
        assert [r.sha256 for r in ws.items()] == [*(r.sha256 for r in first), sha]
        ws.close()


# -- intent markers on object storage: machine B takes over what a killed machine A left ------

_KILL_AFTER_COMMIT = """
import os, signal, sys
from witnessbox.ledger import custody
real = custody.CustodyLog.append
def append_then_die(self, action, *a, **k):
    out = real(self, action, *a, **k)
    if action == "add":
        os.kill(os.getpid(), signal.SIGKILL)  # committed; its marker never cleared
    return out
custody.CustodyLog.append = append_then_die
from witnessbox.cli import main
main(sys.argv[1:])
"""


def _pending_objects(objects: dict[str, bytes]) -> list[str]:
    return sorted(k for k in objects if k.startswith("pending/"))


def _two_machines(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, tuple[str, str]]:
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", postgres_url)
    a_root = tmp_path / "machine-a" / "archive"
    ws = Workspace.init(a_root, PASSPHRASE)
    at = (_blobs(ws).s3.bucket, _blobs(ws).s3.prefix)
    ws.close()
    return a_root, _second_machine(a_root, tmp_path / "machine-b" / "archive"), at


def test_machine_b_takes_over_what_a_killed_writer_on_machine_a_left(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedServer) -> None:
    a_root, b_root, at = _two_machines(tmp_path, postgres_url, monkeypatch)
    kept = _files(tmp_path / "first", 1, seed=7)[0]
    [f] = _meta_inputs(tmp_path)[:1]
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    subprocess.run([*_cli(), "add", str(kept)], env=_proc_env(a_root), check=True, capture_output=True, timeout=300)
    res = subprocess.run([sys.executable, "-c", _KILL_AFTER_RECORD_OBJECT, "add", str(f)], env=_proc_env(a_root),
                         capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    left = _all_objects(at, seaweedfs)
    assert _pending_objects(left) == [f"pending/{sha}.json.age"]  # the marker is an object too
    assert {k.split("/")[0] for k in left if sha in k} == {"blobs", "records", "pending"}
    assert left[f"pending/{sha}.json.age"].startswith(AGE_MAGIC)
    # Machine B (its own folder, never saw A's marker file) opens the archive: A's advisory lock
    # went with its session, so B takes the marker over and removes A's uncommitted objects.
    b = Workspace.open(b_root, PASSPHRASE)
    after = _all_objects(b, seaweedfs)
    assert not any(sha in k for k in after), sorted(k for k in after if sha in k)
    assert _blobs(b).names() == [b.store.blob_name(hashlib.sha256(kept.read_bytes()).hexdigest())]
    rep = b.verify()
    assert rep.ok and not rep.notes[1:], (rep.problems, rep.notes)
    assert [r.name for r in b.items()] == [kept.name]
    assert b.add([f]).added  # B seals the file A never committed
    assert b.verify().ok
    b.close()
    # A comes back: its own marker file is cleared without touching what B committed.
    assert list((a_root / "pending").glob("*.json"))
    a = Workspace.open(a_root, PASSPHRASE)
    a.add([])
    assert not list((a_root / "pending").glob("*.json"))
    for ws in (a, Workspace.open(b_root, PASSPHRASE)):
        rep = ws.verify()
        assert rep.ok, rep.problems
        assert sorted(r.sha256 for r in ws.items()) == sorted([sha, hashlib.sha256(kept.read_bytes()).hexdigest()])
        ws.close()
    assert _pending_objects(_all_objects(at, seaweedfs)) == []


def test_machine_b_never_deletes_what_a_killed_writer_committed(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedServer) -> None:
    a_root, b_root, at = _two_machines(tmp_path, postgres_url, monkeypatch)
    [f] = _meta_inputs(tmp_path)[:1]
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    res = subprocess.run([sys.executable, "-c", _KILL_AFTER_COMMIT, "add", str(f)], env=_proc_env(a_root),
                         capture_output=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr
    before = {k: v for k, v in _all_objects(at, seaweedfs).items() if not k.startswith("pending/")}
    assert _pending_objects(_all_objects(at, seaweedfs)) == [f"pending/{sha}.json.age"]
    b = Workspace.open(b_root, PASSPHRASE)
    after = _all_objects(b, seaweedfs)
    assert _pending_objects(after) == []
    assert {k: v for k, v in after.items() if k in before} == before  # every committed object kept
    assert [r.sha256 for r in b.items()] == [sha]
    rep = b.verify()
    assert rep.ok, rep.problems
    b.close()
    a = Workspace.open(a_root, PASSPHRASE)
    a.add([])
    rep = a.verify()
    assert rep.ok, rep.problems
    assert [r.sha256 for r in a.items()] == [sha] and not list((a_root / "pending").glob("*.json"))
    a.close()


def test_verify_on_machine_b_ignores_what_a_live_writer_on_a_has_in_flight(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a_root, b_root, _ = _two_machines(tmp_path, postgres_url, monkeypatch)
    a = Workspace.open(a_root, PASSPHRASE)
    b = Workspace.open(b_root, PASSPHRASE)
    [f] = _files(tmp_path / "in", 1, seed=4)
    from witnessbox.workspace import _sealing

    seen: list[object] = []
    real = _sealing._seal_staged

    def seal_and_look(ws: Workspace, *args: object, **kwargs: object) -> object:
        # A's writer has its marker object and blob in the store, and still holds the lock:
        # B's verify names nothing, and B's recovery (not the lock holder) takes nothing over.
        from witnessbox.ledger import store as _store

        real_commit = _store.ContentStore.commit

        def commit_then_check(self: object, *a: object, **k: object) -> object:
            out = real_commit(self, *a, **k)  # type: ignore[arg-type]
            b._recover_if_idle()
            seen.append(b.verify())
            return out

        monkeypatch.setattr(_store.ContentStore, "commit", commit_then_check)
        try:
            return real(ws, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            monkeypatch.setattr(_store.ContentStore, "commit", real_commit)

    monkeypatch.setattr(_sealing, "_seal_staged", seal_and_look)
    [r] = a.add([f]).added
    [rep] = seen
    assert rep.ok, rep.problems  # type: ignore[attr-defined]
    assert "uncommitted" in " ".join(rep.notes)  # type: ignore[attr-defined]
    assert _blobs(a).names() == [a.store.blob_name(r.sha256)]
    for ws in (a, b):
        assert ws.verify().ok
        ws.close()


@pytest.mark.slow
def test_kill_9_of_a_writer_on_machine_a_at_random_moments_recovered_by_machine_b(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedServer) -> None:
    a_root, b_root, at = _two_machines(tmp_path, postgres_url, monkeypatch)
    rng = random.Random(20261207)
    inputs: list[Path] = []
    kills = 0
    for i in range(4):
        batch = _files(tmp_path / f"b{i}", 4, seed=40 + i, size=rng.choice([100_000, 1_000_000]))
        inputs += batch
        proc = subprocess.Popen([*_cli(), "add", str(tmp_path / f"b{i}")], env=_proc_env(a_root),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # kill -9 while a marker object is in the store (mid-seal), after a random number of them
        want, got = rng.randint(1, 4), 0
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if _pending_keys(at, seaweedfs):
                got += 1
                if got >= want:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
            time.sleep(0.02)
        proc.wait(timeout=120)
    assert kills >= 2, f"only {kills} of 4 writers were killed mid-seal"
    b = Workspace.open(b_root, PASSPHRASE)  # machine B recovers; machine A never runs again
    rep = b.verify()
    assert rep.ok, rep.problems
    objects = _all_objects(b, seaweedfs)
    assert _pending_objects(objects) == []
    sealed = {r.sha256 for r in b.items()}
    assert set(_stored_blobs(b)) == {b.store.blob_name(s) for s in sealed}  # wholly present or absent
    for p in inputs:
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        assert any(sha in k and k.startswith("records/") for k in objects) == (sha in sealed)
    b.add(inputs)  # whatever A lost, B seals now
    assert {r.sha256 for r in b.items()} == {hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs}
    assert b.verify().ok
    b.close()


def _pending_keys(at: tuple[str, str], seaweedfs: SeaweedServer) -> list[str]:
    raw = seaweedfs.client()
    got = raw.list_objects_v2(Bucket=at[0], Prefix=f"{at[1]}/pending/")
    return [o["Key"][len(at[1]) + 1:] for o in got.get("Contents", [])]


def test_a_writer_that_loses_its_advisory_lock_commits_nothing_more(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedServer) -> None:
    import sqlalchemy as sa

    from witnessbox.errors import LockLostError
    from witnessbox.ledger import store as _store

    a_root, b_root, at = _two_machines(tmp_path, postgres_url, monkeypatch)
    a = Workspace.open(a_root, PASSPHRASE)
    files = _files(tmp_path / "in", 2, seed=9)
    real_commit = _store.ContentStore.commit

    def commit_then_cut(self: _store.ContentStore, *args: object, **kwargs: object) -> object:
        out = real_commit(self, *args, **kwargs)  # type: ignore[arg-type]
        # The server ends the session holding A's lock (a network cut, an operator): from now
        # on B may take the lock and A's unfinished work over.
        engine = sa.create_engine(postgres_url)
        with engine.begin() as c:
            ended = c.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_locks"
                                      " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()").fetchall()
        engine.dispose()
        assert ended
        return out

    monkeypatch.setattr(_store.ContentStore, "commit", commit_then_cut)
    with pytest.raises(LockLostError, match="writer lock was lost"):
        a.add(files)
    monkeypatch.setattr(_store.ContentStore, "commit", real_commit)
    assert a.log_store.size() == 1  # the blob was uploaded, but A committed nothing after losing the lock
    assert _pending_objects(_all_objects(at, seaweedfs))
    b = Workspace.open(b_root, PASSPHRASE)  # B gets the lock and takes A's marker over
    assert not [k for k in _all_objects(at, seaweedfs) if k.startswith(("pending/", "blobs/", "records/"))]
    assert b.items() == [] and b.verify().ok
    b.close()
    a.close()
    a = Workspace.open(a_root, PASSPHRASE)
    assert len(a.add(files).added) == 2
    assert a.verify().ok
    a.close()


def test_without_postgresql_another_folders_marker_objects_are_left_alone(s3_ws: Workspace, tmp_path: Path,
                                                                          seaweedfs: SeaweedServer) -> None:
    """With a SQLite catalog there is no shared lock to prove another writer gone: only this
    folder's own markers are rolled back, a marker object without its file here is left."""
    ws = s3_ws
    if ws.database_url:
        pytest.skip("this run keeps every catalog on PostgreSQL")
    assert ws.mirror is not None
    at = (_blobs(ws).s3.bucket, _blobs(ws).s3.prefix)
    sha = "ab" * 32
    ws.mirror.put(f"records/ab/{sha}.json", b"{}")
    ws.mirror.put(f"pending/{sha}.json", json.dumps({"kind": "item", "sha256": sha, "seq": 1,
                                                      "files": [f"records/ab/{sha}.json"]}).encode())
    ws.add([])  # recovery under the folder's flock only
    objects = _all_objects(at, seaweedfs)
    assert f"pending/{sha}.json.age" in objects and f"records/ab/{sha}.json.age" in objects
    # A seal here clears its own marker object after its log entry.
    [f] = _files(tmp_path / "in", 1, seed=21)
    [r] = ws.add([f]).added
    assert f"pending/{r.sha256}.json.age" not in _all_objects(at, seaweedfs)
    # A marker object whose work a log entry committed (its delete was lost) is only removed.
    seq = next(e.seq for e in ws.log() if e.action == "add")
    rec = f"records/{r.sha256[:2]}/{r.sha256}.json"
    ws.mirror.put(f"pending/{r.sha256}.json", json.dumps({"kind": "item", "sha256": r.sha256, "seq": seq,
                                                           "files": [rec, ws.store.blob_name(r.sha256)]}).encode())
    ws.add([])
    objects = _all_objects(at, seaweedfs)
    assert f"pending/{r.sha256}.json.age" not in objects and rec + ".age" in objects
    assert f"pending/{sha}.json.age" in objects
    assert _stored_blobs(ws) == [ws.store.blob_name(r.sha256)]
    rep = ws.verify()
    assert rep.ok, rep.problems  # the object the uncommitted marker lists is work in progress, noted
    assert any("uncommitted" in n for n in rep.notes)


def test_a_planted_marker_object_deletes_nothing_it_does_not_own(
        tmp_path: Path, store_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedServer) -> None:
    """The archive's recipient is public: anyone who can write to the bucket can plant a marker
    object. Taking it over deletes only files of the marker's own (unsealed) item."""
    a_root, b_root, at = _two_machines(tmp_path, postgres_url, monkeypatch)
    a = Workspace.open(a_root, PASSPHRASE)
    [r] = a.add(_files(tmp_path / "in", 1, seed=8)).added
    assert a.mirror is not None
    rec = f"records/{r.sha256[:2]}/{r.sha256}.json"
    fake = "cd" * 32
    a.mirror.put(f"pending/{fake}.json", json.dumps({
        "kind": "item", "sha256": fake, "seq": 99,
        "files": [rec, rec + ".sig", a.store.blob_name(r.sha256), a.log_store.entry_name(1), "../outside",
                  f"records/cd/{fake}.json", 7],
    }).encode())
    a.mirror.put(f"records/cd/{fake}.json", b"{}")
    a.close()
    before = _all_objects(at, seaweedfs)
    b = Workspace.open(b_root, PASSPHRASE)
    after = _all_objects(at, seaweedfs)
    assert set(before) - set(after) == {f"pending/{fake}.json.age", f"records/cd/{fake}.json.age"}
    rep = b.verify()
    assert rep.ok, rep.problems
    b.close()


def test_a_catalog_url_naming_an_sqlite_file_takes_only_the_folder_lock(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SQLite catalog named by URL shares no lock between machines: no PostgreSQL advisory
    lock is asked of it, and recovery leaves other folders' marker objects alone."""
    monkeypatch.setenv("WITNESSBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    with Workspace.init(tmp_path / "archive", PASSPHRASE) as ws:
        assert not ws.shares_writer_lock
        added = ws.add(_files(tmp_path / "in", 2))
        assert len(added.added) == 2 and ws.verify().ok
