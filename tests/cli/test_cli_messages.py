"""Issue 14, items 9 to 11: one true line for ordinary mistakes, output paths read the obvious way."""

from __future__ import annotations

import shutil
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
    from witnessbox.workspace import Workspace

    base = tmp_path_factory.mktemp("msg")
    (base / "a.txt").write_text("alpha")
    ws = Workspace.init(base / "archive", PASSPHRASE)
    ws.add([base / "a.txt"])
    ws.close()
    return base / "archive"


@pytest.fixture
def archive(_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(shutil.copytree(_template, tmp_path / "archive"))
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(tmp_path)
    return root


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith(("warning:", "sealing:"))]
    assert len(lines) == 1, err
    return lines[0]


def _sha(root: Path) -> str:
    from witnessbox.workspace import Workspace

    with Workspace.open(root) as ws:
        return ws.items()[0].sha256


def test_extract_to_a_missing_folder_with_a_slash_writes_no_file(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "extract", _sha(archive)[:8], "-o", str(tmp_path / "nodir") + "/")
    assert code == 2 and "does not exist" in _one_line(err)
    assert not (tmp_path / "nodir").exists()
    (tmp_path / "dir").mkdir()
    code, _, err = run(capsys, "extract", _sha(archive)[:8], "-o", str(tmp_path / "dir") + "/")
    assert code == 0, err
    assert (tmp_path / "dir" / "a.txt").read_text() == "alpha"
    code, _, err = run(capsys, "extract", _sha(archive)[:8], "-o", str(tmp_path / "dir"))
    assert code == 2 and "already exists" in _one_line(err)


def test_a_mistyped_path_or_unknown_name_says_what_it_is(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "show", "photos/a.jpg")
    assert code == 2 and "no file of that name" in _one_line(err)
    code, _, err = run(capsys, "export", "INC-404", "-o", "pkg")
    assert code == 4 and "no incident or item" in _one_line(err)
    code, _, err = run(capsys, "incident", "link", "INC-404", "abc")
    assert code == 4 and "no incident 'INC-404'" in _one_line(err)
    Path("b.txt").write_text("x")
    code, _, err = run(capsys, "redact", "b.txt")
    assert code == 2 and "-o OUTDIR" in _one_line(err)


def test_destinations_that_cannot_be_written_are_not_archive_problems(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "incident", "export", "-o", str(tmp_path))
    line = _one_line(err)
    assert code == 5 and "is a folder" in line and "Archive problem" not in line
    Path("file").write_text("x")
    code, _, err = run(capsys, "redact", "b.txt", "-o", "file")
    assert code == 2 and "is a file" in _one_line(err)


def test_verify_export_of_wrong_inputs_is_not_a_failed_export(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("not-a-package.txt").write_text("x")
    code, _, err = run(capsys, "verify-export", "not-a-package.txt")
    line = _one_line(err)
    assert code == 3 and "Export failed" not in line and "witnessbox export" in line
    code, _, err = run(capsys, "verify-export", "nothing-here")
    assert code == 4 and "does not exist" in _one_line(err)
    code, _, err = run(capsys, "verify-export", "not-a-package.txt", "--tsa-root", "missing.pem")
    assert code == 3 and "missing.pem" in _one_line(err)


def test_match_of_an_unsupported_file_is_an_error_and_an_item_means_other_items(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("note.txt").write_text("not media")
    code, _, err = run(capsys, "match", "note.txt")
    assert code == 3 and "cannot match" in _one_line(err)


def test_a_usage_error_inside_a_command_is_one_line(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "export", "x", "--zip", "-o", "folder")
    assert code == 2 and ".zip" in _one_line(err)
    code, _, err = run(capsys, "init", "-A", "one", "two")
    assert code == 2 and "once" in _one_line(err)


def test_ctrl_c_during_add_says_what_was_sealed_and_how_to_go_on(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from collections.abc import Iterator
    from contextlib import contextmanager

    from witnessbox.cli import archive as archive_cli

    folder = tmp_path / "drop"
    folder.mkdir()
    for n in "123":
        (folder / f"{n}.txt").write_text(f"file {n}")

    @contextmanager
    def interrupting(label: str, enabled: bool = True) -> Iterator[object]:
        # The user presses Ctrl-C while the third file is being read.
        def cb(advance: int, total: int | None, item: str) -> None:
            if item == "3.txt":
                raise KeyboardInterrupt

        yield cb

    monkeypatch.setattr(archive_cli, "_progress", interrupting)
    code, out, err = run(capsys, "add", str(folder))
    assert code == 130
    assert "interrupted: 2 file(s) were sealed" in err and "run the same command again" in err.lower()
    assert "1.txt" in err and "2.txt" in err
    monkeypatch.undo()
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(archive))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    code, out, err = run(capsys, "add", str(folder))
    assert code == 0, err
    assert out.count("duplicate") == 2 and out.count("sealed ") == 1


def test_regions_of_another_file_same_exit_code_and_no_temp_name(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (120, 80, 40)).save(photo)
    regions = tmp_path / "other.regions.json"
    regions.write_text(json.dumps({
        "version": 1, "media": {"width": 64, "height": 48, "frames": 1}, "source_sha256": "0" * 64, "regions": [],
        "method": {"fill": "solid", "detector": "x", "params": {}}, "tool": {"name": "witnessbox", "version": "0"},
    }))
    code_files, _, err_files = run(capsys, "redact", str(photo), "--regions", str(regions), "-o", str(tmp_path / "out"))
    assert code_files == 11 and "another file" in err_files
    code, out, _ = run(capsys, "add", str(photo), "--json")
    assert code == 0
    sha = json.loads(out)["added"][0]["sha256"]
    code_item, _, err_item = run(capsys, "redact", sha[:12], "--regions", str(regions))
    line = _one_line(err_item)
    assert code_item == code_files == 11, err_item
    assert "photo.png" in line and "plain-" not in line and "/tmp" not in line


def test_passphrase_is_asked_before_the_progress_bar_on_a_terminal(archive: Path, tmp_path: Path) -> None:
    """On a real terminal (a pseudo-terminal), `add` asks for the passphrase first and the
    prompt stays on screen: the bar starts only after the answer."""
    import os
    import select
    import subprocess
    import sys

    (tmp_path / "big.bin").write_bytes(os.urandom(3 << 20))
    env = {k: v for k, v in os.environ.items() if k != "WITNESSBOX_PASSPHRASE"}
    env.update(WITNESSBOX_ARCHIVE=str(archive), COLUMNS="100", TERM="xterm")
    master, slave = os.openpty()
    def controlling_terminal() -> None:  # the prompt reads /dev/tty: make the pty ours
        import fcntl
        import termios

        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([sys.executable, "-m", "witnessbox", "add", str(tmp_path / "big.bin")],
                         stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                         preexec_fn=controlling_terminal)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        # 120 s only bounds a hang; the text comes as soon as the process gets there.
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk

    read_until(b"passphrase")
    before = seen
    # Answer once the hidden prompt has turned the terminal's echo off (as a person would
    # after seeing it); polling the pty's mode, not a timed wait.
    import termios

    for _ in range(2400):
        if not termios.tcgetattr(master)[3] & termios.ECHO:
            break
        select.select([], [], [], 0.05)
    os.write(master, PASSPHRASE.encode() + b"\n")
    read_until(b"sealed ")
    read_until(b"\n")
    p.wait(timeout=120)
    os.close(master)
    assert b"Archive passphrase" in before, seen
    assert b"sealing" not in before  # no bar before the question
    assert p.returncode == 0 and b"sealed" in seen, seen
