"""The inbox and its import: encrypted on arrival, committed last, refused whole when damaged."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from media_fixtures import SECRET_MAKE, SECRET_MODEL, SECRET_VIDEO_TAG, jpeg_with_gps, mp4_with_tags, png_bomb, zip_bomb

from witnessbox.dropbox import Inbox, KdfParams, Limits, SourceKeys, Statement, SubmissionState, generate
from witnessbox.errors import InputError, SizeLimitError
from witnessbox.workspace import Workspace

CHEAP = KdfParams(time_cost=1, memory_kib=8192, parallelism=1)
STATEMENT = "Officers of unit 7 beat a man at the bus stop near the market"


def make_inbox(tmp: Path, recipient_file: Path) -> Inbox:
    return Inbox.create(tmp / "inbox", recipient_file.read_text(), CHEAP)


def new_source(inbox: Inbox) -> tuple[str, SourceKeys]:
    code = generate()
    keys = inbox.derive(code)
    assert keys is not None
    inbox.register_source(keys)
    return code, keys


def send(inbox: Inbox, keys: SourceKeys, files: list[tuple[str, bytes]], statement: str = STATEMENT, *,
         strip: bool = True, limits: Limits = Limits(), chunk: int = 7000) -> SubmissionState:
    sub = inbox.new_submission(keys, language="en", limits=limits)
    try:
        for name, data in files:
            sink = sub.add_file(name, strip_metadata=strip)
            for i in range(0, len(data), chunk):
                sink.write(data[i : i + chunk])
            sub.close_file()
        sub.set_statement(Statement(statement, when="yesterday evening", unit="unit 7"))
        return sub.commit()
    except BaseException:
        sub.abort()
        raise


def archive_state(ws: Workspace) -> tuple[int, int, int]:
    return len(ws.log()), len(ws.items()), len(ws.incidents.list())


def test_submission_round_trip_imports_once_and_verifies(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    code, keys = new_source(inbox)
    doc = b"minutes of the meeting: " + bytes(range(256)) * 40
    state = send(inbox, keys, [("photo.jpg", jpeg_with_gps()), ("notes.txt", doc)])
    assert state.committed and state.files == 2

    report = ws.dropbox.import_(inbox.root)
    assert report.ok and [s.id for s in report.imported] == [state.id]
    again = ws.dropbox.import_(inbox.root)
    assert again.imported == [] and again.already == [state.id]

    items = [i for i in ws.items() if i.source == "dropbox"]
    assert len(items) == 2
    assert all(state.id in (i.note or "") and state.day in (i.note or "") for i in items)
    inc_id = report.imported[0].incident
    assert inc_id is not None
    inc = ws.incidents.get(inc_id)
    assert {link.item for link in inc.links} == {i.sha256 for i in items}
    [t] = ws.incidents.testimonies(inc_id)
    text = ws.incidents.read_testimony(t.id).text
    assert STATEMENT in text and "unit 7" in text and "yesterday evening" in text
    with ws.open_original(next(i.sha256 for i in items if i.name.endswith("notes.txt"))) as f:
        assert f.read() == doc
    assert ws.verify().ok
    actions = [e.action for e in ws.log()]
    for step in ("dropbox.verify", "add", "catalog.incident.add", "catalog.incident.link", "catalog.testimony.add",
                 "dropbox.import"):
        assert step in actions, step
    assert actions.count("dropbox.import") == 1
    # what is listed
    [row] = ws.dropbox.list(inbox.root)
    assert row.imported and row.files == 2 and row.incident == inc_id
    assert [r.id for r in ws.dropbox.list()] == [state.id]
    # the inbox holds no plaintext, no statement, no codename
    needles = [doc[:64], STATEMENT.encode(), code.encode(), SECRET_MAKE.encode(), b"yesterday evening"]
    for p in inbox.root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert not any(n in data for n in needles), p


def test_the_inbox_keeps_no_time_finer_than_the_day(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    state = send(inbox, keys, [("a.txt", b"abc")])
    ws.dropbox.import_(inbox.root)
    ws.dropbox.reply(state.id, "ok")
    paths = [p for p in inbox.root.rglob("*") if p.name != "inbox.json"]
    assert len(paths) >= 8
    for p in paths:
        assert p.stat().st_mtime % 86400 == 0, p


def test_metadata_is_removed_from_photos_and_videos_only_when_asked(ws: Workspace, tmp_path: Path,
                                                                     recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    jpg, mp4 = jpeg_with_gps(1), mp4_with_tags()
    assert SECRET_VIDEO_TAG.encode() in mp4 and SECRET_MODEL.encode() in jpg
    send(inbox, keys, [("a.jpg", jpg), ("b.mp4", mp4)], strip=True)
    send(inbox, keys, [("c.jpg", jpeg_with_gps(2)), ("d.mp4", mp4)], "as taken", strip=False)
    assert ws.dropbox.import_(inbox.root).ok
    by_name = {i.name.split("-", 1)[1]: i for i in ws.items()}
    from PIL import Image

    def read(name: str) -> bytes:
        with ws.open_original(by_name[name].sha256) as f:
            return bytes(f.read())

    stripped_jpg, stripped_mp4 = read("a.jpg"), read("b.mp4")
    assert SECRET_MODEL.encode() not in stripped_jpg and SECRET_MAKE.encode() not in stripped_jpg
    assert not Image.open(io.BytesIO(stripped_jpg)).getexif()
    assert Image.open(io.BytesIO(stripped_jpg)).size == (96, 64)
    assert SECRET_VIDEO_TAG.encode() not in stripped_mp4 and b"+53.9000" not in stripped_mp4
    import av

    with av.open(io.BytesIO(stripped_mp4)) as c:
        assert c.streams.video[0].frames in (0, 10) and sum(1 for _ in c.decode(video=0)) == 10
    assert SECRET_MODEL.encode() in read("c.jpg") and read("d.mp4") == mp4


@pytest.mark.parametrize("files,strip,expect", [
    ([("bomb.png", png_bomb())], True, InputError),          # refused: decoding it would take gigabytes
    ([("big.bin", b"x" * 5000)], False, SizeLimitError),     # over the per-file limit
    ([("a", b"1"), ("b", b"2"), ("c", b"3")], False, SizeLimitError),  # too many files
])
def test_refused_uploads_leave_nothing(tmp_path: Path, recipient_file: Path, files: list[tuple[str, bytes]],
                                       strip: bool, expect: type[Exception]) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    with pytest.raises(expect):
        send(inbox, keys, files, strip=strip, limits=Limits(max_file=4096, max_total=8192, max_files=2))
    assert inbox.submissions() == []


def test_hostile_files_are_stored_safely(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    names = ["../../../../tmp/evil.txt", "<script>alert(1)</script>.jpg", "[bold red]x[/].txt\x1b[31m\n", "..", "/etc/passwd"]
    files = [(n, f"content {i}".encode()) for i, n in enumerate(names)]
    files += [("bomb.zip", zip_bomb()), ("bomb.png", png_bomb())]
    send(inbox, keys, files, strip=False)  # as the source sent them: metadata removal off
    report = ws.dropbox.import_(inbox.root)
    assert report.ok, report.refused
    items = [i for i in ws.items() if i.source == "dropbox"]
    assert len(items) == len(files)
    for i in items:
        assert "/" not in i.name and "<" not in i.name and "\x1b" not in i.name and "\n" not in i.name
    assert not Path("/tmp/evil.txt").exists()
    zip_item = next(i for i in items if i.name.endswith("bomb.zip"))
    assert zip_item.size < 1024 * 1024  # sealed as the small file it is, never unpacked
    assert ws.verify().ok


def test_half_written_and_aborted_submissions(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    sub = inbox.new_submission(keys, language="en")
    sink = sub.add_file("x.txt", strip_metadata=False)
    sink.write(b"half of it")  # the server dies here: no COMMIT
    [state] = inbox.submissions()
    assert not state.committed
    before = archive_state(ws)
    report = ws.dropbox.import_(inbox.root)
    assert report.imported == [] and report.refused[0][0] == state.id and "half-written" in report.refused[0][1]
    assert archive_state(ws) == before and (inbox.root / "submissions" / state.id).is_dir()
    aborted = inbox.new_submission(keys, language="en")
    aborted.add_file("y.txt", strip_metadata=False).write(b"abc")
    aborted.abort()
    assert [s.id for s in inbox.submissions()] == [state.id]
    with pytest.raises(InputError):
        inbox.new_submission(keys, language="en").commit()  # nothing to send


def _flip(p: Path, at: int = -20) -> None:
    data = bytearray(p.read_bytes())
    data[at] ^= 0x01
    p.write_bytes(bytes(data))


def _rewrite_commit(folder: Path, **changes: object) -> None:
    c = json.loads((folder / "COMMIT").read_text())
    c.update(changes)
    (folder / "COMMIT").write_text(json.dumps(c))


def _flip_manifest_fix_commit(folder: Path) -> None:
    import hashlib

    _flip(folder / "manifest.age")
    _rewrite_commit(folder, manifest_sha256=hashlib.sha256((folder / "manifest.age").read_bytes()).hexdigest())


TAMPERS: dict[str, Callable[[Path, Path], None]] = {
    "flipped file byte": lambda f, o: _flip(f / "file-001.age"),
    "truncated file": lambda f, o: (f / "file-002.age").write_bytes((f / "file-002.age").read_bytes()[:-100]),
    "flipped statement": lambda f, o: _flip(f / "statement.age"),
    "flipped manifest": lambda f, o: _flip(f / "manifest.age"),
    "flipped manifest, COMMIT hash fixed": lambda f, o: _flip_manifest_fix_commit(f),
    "swapped parts": lambda f, o: ((f / "file-001.age").rename(f / "t"), (f / "file-002.age").rename(f / "file-001.age"),
                                   (f / "t").rename(f / "file-002.age")),
    "part of another submission": lambda f, o: shutil.copy(o / "file-001.age", f / "file-001.age"),
    "COMMIT of another submission": lambda f, o: shutil.copy(o / "COMMIT", f / "COMMIT"),
    "file count changed": lambda f, o: _rewrite_commit(f, files=1),
    "planted file": lambda f, o: (f / "file-003.age").write_bytes((f / "file-001.age").read_bytes()),
    "missing part": lambda f, o: (f / "file-002.age").unlink(),
    "COMMIT not JSON": lambda f, o: (f / "COMMIT").write_text("{"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_submissions_are_refused_whole(ws: Workspace, tmp_path: Path, recipient_file: Path, tamper: str) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    target = send(inbox, keys, [("one.txt", b"1" * 100_000), ("two.txt", b"2" * 3000)])
    other = send(inbox, keys, [("three.txt", b"3" * 100_000), ("four.txt", b"4" * 3000)], "another")
    folder, other_folder = inbox.root / "submissions" / target.id, inbox.root / "submissions" / other.id
    TAMPERS[tamper](folder, other_folder)
    shutil.rmtree(other_folder)  # only the tampered one is looked at
    snapshot = {p.name: p.read_bytes() for p in folder.iterdir()}
    before = archive_state(ws)
    report = ws.dropbox.import_(inbox.root)
    assert report.imported == [] and [r[0] for r in report.refused] == [target.id], report.to_json()
    assert archive_state(ws) == before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == snapshot  # left untouched
    assert not any((ws.root / "tmp").glob("dropbox-*"))


def test_replies_are_readable_only_with_the_codename(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    _, other_keys = new_source(inbox)
    state = send(inbox, keys, [("a.txt", b"abc")])
    ws.dropbox.import_(inbox.root)
    secret = "We received it. Please send the longer video if you can."
    ws.dropbox.reply(state.id, secret)
    assert [r.text for r in inbox.replies(keys)] == [secret]
    assert inbox.replies(other_keys) == []
    for p in inbox.root.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes()
    assert any(e.action == "dropbox.reply" for e in ws.log())
    with pytest.raises(InputError):
        ws.dropbox.reply(state.id, "   ")
