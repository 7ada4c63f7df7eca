"""`witnessbox redact` on files and folders: names and structure kept, --json, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from redact_helpers import make_video
from witnessbox.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def _photo(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(p)
    return p


def test_folder_structure_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "shoot"
    _photo(src / "a.jpg")
    _photo(src / "day2" / "b.png")
    make_video(src / "day2" / "c.mov")
    (src / "notes.txt").write_text("not media")
    single = _photo(tmp_path / "single.webp")
    code, out, _ = _run(["redact", str(src), str(single), "-o", str(tmp_path / "out"), "--json"], capsys)
    assert code == 0
    rep = json.loads(out)
    outs = sorted(Path(r["output"]).relative_to(tmp_path / "out").as_posix() for r in rep["redacted"])
    assert outs == ["shoot/a.jpg", "shoot/day2/b.png", "shoot/day2/c.mp4", "single.webp"]
    assert [Path(p).name for p in rep["skipped"]] == ["notes.txt"]
    for r in rep["redacted"]:
        assert Path(r["regions_file"]).is_file() and Path(r["regions_file"]).name == Path(r["output"]).name + ".regions.json"


def test_failure_exit_code_and_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _photo(tmp_path / "in" / "good.png")
    bad = tmp_path / "in" / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    code, out, err = _run(["redact", str(good), str(bad), "-o", str(tmp_path / "out")], capsys)
    assert code == 11
    assert "bad.jpg" in err and "1 of 2" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good.png", "good.png.regions.json", "good.png.suggestions.json"]


def test_unsupported_file_lists_supported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.docx"
    f.write_bytes(b"PK")
    code, _, err = _run(["redact", str(f), "-o", str(tmp_path / "out")], capsys)
    assert code == 3 and ".heic" in err and ".mp4" in err


def test_unknown_fill(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _photo(tmp_path / "a.png")
    code, _, err = _run(["redact", str(f), "-o", str(tmp_path / "o"), "--fill", "swirl"], capsys)
    assert code == 2 and "solid, blur, pixelate" in err


def test_output_over_source_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _photo(tmp_path / "a.png")
    code, _, err = _run(["redact", str(f), "-o", str(tmp_path)], capsys)
    assert code == 2 and "overwrite its own source" in err


def test_thorough_adds_the_second_look_and_keeps_the_other_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _photo(tmp_path / "a.png")

    def params(*flags: str) -> dict[str, object]:
        out = tmp_path / "-".join(flags or ("default",))
        code, _, err = _run(["redact", str(f), "-o", str(out), *flags], capsys)
        assert code == 0, err
        doc = json.loads((out / "a.png.regions.json").read_text())
        return {"fill": doc["method"]["fill"], **doc["method"]["params"]}

    default, thorough = params(), params("--thorough", "--fill", "blur")
    assert "second_low" not in default and default["fill"] == "solid"
    assert (thorough["second_low"], thorough["second_min_face"], thorough["fill"]) == (0.08, 16.0, "blur")
    assert {k: v for k, v in thorough.items() if not k.startswith("second_") and k != "fill"} == \
        {k: v for k, v in default.items() if k != "fill"}  # nothing else changes
