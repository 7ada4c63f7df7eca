"""An archive whose blobs live on S3 (a real SeaweedFS on 127.0.0.1): the same workspace,
ciphertext only on the server, every object checked on read, tampering named by `verify`,
writers racing or killed mid-seal leaving one consistent archive.

Records, sidecars, the custody log and checkpoints stay in the archive folder (docs/scale-out.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
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
    assert (s3_ws.sidecar_dir(d.sha256) / "regions.json").is_file()  # sidecars stay in the folder
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
    assert f"the archive was made with {store_url} (init log entry)" in problems["store.json"]
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
