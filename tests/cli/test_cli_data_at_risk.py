"""Issue 14, "data at risk": the CLI never loses the site, the catalog or evidence.

Each test here failed on the code before the fix (checked once by running this module against
the previous commit's ``src/``): a lost catalog, a corrupt catalog, a damaged zip package, a
read-only archive, a damaged ProofMode zip, the witness contact on the command line, spreadsheet
formulas in the CSV export.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from witnessbox.cli import main

PASSPHRASE = "correct horse battery staple"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with two sealed files, a region and two published incidents."""
    from witnessbox.catalog import IncidentInput, Status, make_timespan
    from witnessbox.workspace import Workspace

    base = tmp_path_factory.mktemp("risk")
    root = base / "archive"
    ws = Workspace.init(root, PASSPHRASE)
    (base / "in").mkdir()
    (base / "in" / "a.txt").write_text("alpha")
    (base / "in" / "b.txt").write_text("beta")
    ws.add([base / "in"])
    ws.incidents.add_region("Minsk")
    for n in (1, 2):
        inc = ws.incidents.add(IncidentInput(
            id=f"inc-{n}", title=f"Detention {n}", time=make_timespan("2020-08-10", "", ""), place="Square", region="Minsk",
            categories=("arbitrary-detention",),
        ))
        ws.incidents.set_status(inc.id, Status.VERIFIED)
        ws.incidents.set_status(inc.id, Status.PUBLISHED)
    ws.close()
    return root


@pytest.fixture
def archive(_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(shutil.copytree(_template, tmp_path / "archive"))
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    return root


def _drop_catalog(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (root / f"catalog.sqlite{suffix}").unlink(missing_ok=True)


# -- 1. the catalog is an index of the custody log ---------------------------------------------
def test_lost_catalog_is_rebuilt_with_incidents(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _drop_catalog(archive)
    code, out, err = run(capsys, "incident", "list", "--json")
    assert code == 0
    assert sorted(i["id"] for i in json.loads(out)) == ["inc-1", "inc-2"]
    assert "rebuilt from the custody log" in err
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and sorted(i["name"] for i in json.loads(out)) == ["a.txt", "b.txt"]
    code, out, _ = run(capsys, "region", "list", "--json")
    assert [r["name"] for r in json.loads(out)] == ["Minsk"]


def test_lost_catalog_never_unpublishes_the_site(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site"
    code, _, err = run(capsys, "publish", str(site))
    assert code == 0, err
    pages = sorted(p.name for p in (site / "incidents").glob("*.html"))
    assert pages == ["inc-1.html", "inc-2.html"]
    _drop_catalog(archive)
    code, _, err = run(capsys, "publish", str(site))
    assert code == 0, err
    assert sorted(p.name for p in (site / "incidents").glob("*.html")) == pages


def test_publish_refuses_to_remove_published_incidents_without_allow_removals(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    assert run(capsys, "publish", str(site))[0] == 0
    assert run(capsys, "incident", "status", "inc-2", "draft")[0] == 0
    code, _, err = run(capsys, "publish", str(site))
    assert code == 12
    assert "inc-2" in err and "--allow-removals" in err and len(err.strip().splitlines()) == 1
    assert (site / "incidents" / "inc-2.html").is_file()
    code, out, err = run(capsys, "publish", str(site), "--allow-removals", "--json")
    assert code == 0, err
    assert "incidents/inc-2.html" in json.loads(out)["removed"]
    assert not (site / "incidents" / "inc-2.html").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_catalog_is_one_line_then_reindex_fixes_it(
    archive: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    db = archive / "catalog.sqlite"
    from witnessbox.workspace import Workspace

    with Workspace.open(archive, PASSPHRASE) as ws:  # make sure the catalog is checkpointed
        ws.items()
    for suffix in ("-wal", "-shm"):
        (archive / f"catalog.sqlite{suffix}").unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes(b"this is not a database" * 100 if damage == "garbage" else data[:100] + b"\x00" * 4000 + data[4100:])
    for cmd in (["list"], ["incident", "list"], ["log", "inc-1"]):
        code, out, err = run(capsys, *cmd)
        assert code == 5, (cmd, err)
        assert err.strip().splitlines() == [err.strip()]
        assert "catalog damaged: run `witnessbox reindex`" in err
    code, _, err = run(capsys, "reindex")
    assert code == 0, err
    code, out, _ = run(capsys, "incident", "list", "--json")
    assert code == 0 and len(json.loads(out)) == 2


# -- 2. a damaged zip package is an integrity failure naming the member ------------------------
def test_flipped_byte_in_a_zip_package_names_the_member(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = tmp_path / "package.zip"
    code, _, err = run(capsys, "export", "inc-1", "--zip", "-o", str(pkg))
    assert code == 0, err
    with zipfile.ZipFile(pkg) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("data/incident.json"))
    raw = bytearray(pkg.read_bytes())
    # The member's data starts after its local header (30 bytes + name + extra).
    name_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    at = info.header_offset + 30 + name_len + extra_len + 5
    raw[at] ^= 0xFF
    pkg.write_bytes(bytes(raw))
    code, out, err = run(capsys, "verify-export", str(pkg))
    assert code == 10, err
    member = info.filename.split("/", 1)[1]
    assert member in out and "damaged" in out
    assert "INTEGRITY FAILURE" in err and member in err
    code, out, _ = run(capsys, "verify-export", str(pkg), "--json")
    assert code == 10 and json.loads(out)["ok"] is False


def test_export_to_a_zip_name_writes_a_zip(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = tmp_path / "x.zip"
    code, out, err = run(capsys, "export", "inc-1", "-o", str(pkg))
    assert code == 0, err
    assert zipfile.is_zipfile(pkg)  # "-o x.zip" without --zip: a zip, not a folder named x.zip
    assert "cd " + str(pkg) not in out and "unzip" in out
    code, out, err = run(capsys, "export", "inc-1", "--out", str(tmp_path / "old-spelling"))
    assert code == 0 and (tmp_path / "old-spelling" / "bagit.txt").is_file(), err


# -- 3. a read-only archive can be read -------------------------------------------------------
def _read_only_runner(root: Path) -> list[str]:
    """A command prefix that runs witnessbox with ``root`` read-only: a read-only bind mount in
    a private mount namespace when we are root (root ignores permission bits; a DVD or a
    write-protected stick is EROFS, which this reproduces), else the permission bits."""
    py = [sys.executable, "-m", "witnessbox"]
    if os.geteuid() != 0:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return py
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount the archive read-only as root")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode(errors='replace').strip()}")
    script = f'mount --bind "{root}" "{root}" && mount -o remount,bind,ro "{root}" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", *py]


def test_read_only_archive_reads_and_refuses_writes_in_one_line(archive: Path, tmp_path: Path) -> None:
    from witnessbox.workspace import Workspace

    with Workspace.open(archive, PASSPHRASE) as ws:
        sha = ws.items()[0].sha256
    prefix = _read_only_runner(archive)
    env = {**os.environ, "WITNESSBOX_ARCHIVE": str(archive), "WITNESSBOX_PASSPHRASE": PASSPHRASE}

    def wb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, *args], capture_output=True, text=True, env=env, timeout=300)

    before = sorted(str(p.relative_to(archive)) for p in archive.rglob("*"))
    for args in (["list", "--json"], ["show", sha[:10]], ["log"], ["incident", "list"], ["verify"],
                 ["extract", sha[:10], "-o", str(tmp_path / "out.txt")]):
        r = wb(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert (tmp_path / "out.txt").read_text() in ("alpha", "beta")
    assert "not recorded" in r.stderr  # the extraction could not be logged: said so
    for args in (["add", str(tmp_path / "out.txt")], ["region", "add", "Hrodna"], ["reindex"]):
        r = wb(*args)
        assert r.returncode == 5, (args, r.stderr)
        assert r.stderr.strip().count("\n") == 0 and "read-only" in r.stderr, r.stderr
    assert sorted(str(p.relative_to(archive)) for p in archive.rglob("*")) == before


# -- 5. a damaged ProofMode zip is one bad input ------------------------------------------------
def test_damaged_proofmode_zip_is_reported_and_the_rest_sealed(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "1-first.txt").write_text("first file")
    (folder / "9-last.txt").write_text("last file")
    z = folder / "5-proofmode.zip"
    media = bytes(range(256)) * 40
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("pubkey.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
        zf.writestr("abc.proof.json", "{}")
        zf.writestr("IMG_0001.jpg", media)
    raw = bytearray(z.read_bytes())
    raw[raw.index(media[:64]) + 1000] ^= 0xFF  # one flipped byte inside the photo
    z.write_bytes(bytes(raw))
    code, out, err = run(capsys, "add", str(folder))
    assert code == 3, err
    assert "5-proofmode.zip" in err and "damaged ProofMode zip" in err
    sealed = [line for line in out.splitlines() if line.startswith("sealed")]
    assert any("1-first.txt" in s for s in sealed) and any("9-last.txt" in s for s in sealed)
    assert "2 other(s) were sealed" in err


# -- 6. the witness contact never on the command line ------------------------------------------
def test_contact_comes_from_a_file_never_the_command_line(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "t.txt"
    text.write_text("I saw it.")
    code, _, err = run(capsys, "incident", "testimony", "add", "inc-1", "--text-file", str(text),
                       "--language", "en", "--date", "2020-08-12", "--contact", "+375 29 000")
    assert code == 2 and "--contact-file" in err and "+375" not in err
    contact = tmp_path / "c.txt"
    contact.write_text("+375 29 000\n")
    code, _, err = run(capsys, "incident", "testimony", "add", "inc-1", "--text-file", str(text),
                       "--language", "en", "--date", "2020-08-12", "--contact-file", str(contact))
    assert code == 0, err
    code, out, _ = run(capsys, "incident", "testimony", "show", "1", "--json")
    assert json.loads(out)["contact"] == "+375 29 000"


# -- 7. CSV without live formulas, round trip kept ---------------------------------------------
def test_csv_export_neutralises_formulas_and_imports_back(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    titles = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "'quoted", "plain"]
    for n, t in enumerate(titles):
        code, _, err = run(capsys, "incident", "add", "--id", f"f-{n}", "--title", t, "--start", "2021-01-01",
                           "--region", "Minsk", "-c", "arbitrary-detention", "--place", t)
        assert code == 0, err
    out_csv = tmp_path / "x.csv"
    code, _, err = run(capsys, "incident", "export", "--format", "csv", "--text", "", "-o", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.read_text(encoding="utf-8").splitlines()))
    for r in rows:
        for key in ("title", "place"):
            assert r[key][:1] not in ("=", "+", "-", "@"), r
    # Round trip into a fresh archive gives the same titles.
    other = tmp_path / "other"
    from witnessbox.workspace import Workspace

    Workspace.init(other, PASSPHRASE).close()
    assert run(capsys, "region", "add", "Minsk", "-A", str(other))[0] == 0
    code, _, err = run(capsys, "import", str(out_csv), "-A", str(other))
    assert code == 0, err
    code, out, _ = run(capsys, "incident", "list", "--json", "-A", str(other))
    got = {i["id"]: i["title"] for i in json.loads(out)}
    assert {f"f-{n}": t for n, t in enumerate(titles)}.items() <= got.items()


# -- feedback ---------------------------------------------------------------------------------
def test_a_second_writer_says_it_is_waiting(archive: Path) -> None:
    from witnessbox._fsutil import exclusive_lock

    env = {**os.environ, "WITNESSBOX_ARCHIVE": str(archive), "WITNESSBOX_PASSPHRASE": PASSPHRASE}
    with exclusive_lock(archive / "lock"):
        p = subprocess.Popen([sys.executable, "-m", "witnessbox", "region", "add", "Hrodna"],
                             stderr=subprocess.PIPE, text=True, env=env)
        assert p.stderr is not None
        # Not a timing assertion: 120 s only bounds a silent hang (the old behaviour), the line
        # comes as soon as the process has started.
        ready, _, _ = select.select([p.stderr], [], [], 120)
        first = p.stderr.readline() if ready else ""
        if not ready:
            p.kill()
        assert first.startswith("waiting:"), first
    rest = p.communicate(timeout=120)[1]
    assert p.returncode == 0, rest
    assert "added region Hrodna" in rest


def test_show_flags_a_tampered_record(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from witnessbox.workspace import Workspace

    with Workspace.open(archive, PASSPHRASE) as ws:
        rec = ws.items()[0]
        path = ws.record_path(rec.sha256)
    data = path.read_bytes()
    forged = data.replace(b'"source":null', b'"source":"forged"') if b'"source":null' in data else data.replace(rec.name.encode(), b"forged.txt")
    assert forged != data
    path.chmod(0o644)
    path.write_bytes(forged)
    code, out, err = run(capsys, "show", rec.sha256[:12])
    assert code == 10, err
    assert "NOT SIGNED AS SHOWN" in out and "does not verify" in err
    code, out, _ = run(capsys, "show", rec.sha256[:12], "--json")
    assert code == 10 and json.loads(out)["signature_ok"] is False
