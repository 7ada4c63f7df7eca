"""Every command the typer app registers, table-driven (issue 14).

The tables are built from ``witnessbox.cli.app`` itself (``registered_commands``), so command
groups other modules add later (``serve``, ``user``...) are covered as soon as they register:

- a usage error (an unknown option) is one line on stderr and exit 2, never a traceback, and
  that holds in an environment with the base dependencies only (see
  :func:`test_usage_errors_with_base_dependencies_only`);
- ``--json`` gives one valid JSON document on stdout, on success and on failure;
- hostile text (rich markup, ANSI and OSC escapes, newlines, bidi marks, ``../``, very long
  names) in arguments, file names and catalog text is printed literally: no escape character,
  bidi mark or carriage return reaches the terminal, markup is never interpreted, no line is
  faked;
- every option has help text, help shows no Python types.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from importlib import metadata
from pathlib import Path

import pytest

from witnessbox.cli import app, main
from witnessbox.cli._common import registered_commands

PASSPHRASE = "correct horse battery staple"
COMMANDS = registered_commands(app)
NAMES = [name for name, _ in COMMANDS]
# Commands that run for minutes by design (the whole demo chain) are left out of the hostile
# run only; they still get the usage and help checks.
SLOW = {"demo"}
# Servers run until stopped (and `serve` needs no argument, so it would start on 127.0.0.1:8484):
# their arguments are tested by tests/web/test_web_cli.py and tests/dropbox/test_dropbox_cli.py.
SERVERS = {"serve", "dropbox serve"}

HOSTILE = (
    "[bold red]HOSTILE[/] [/b] \x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07link\x1b]8;;\x07"
    " \u202egnp.exe\u200f \x9b2J ../x\nFAKE-LINE\r"
)
LONG = "n" * 240 + ".txt"


def _accepts_json(cmd: object) -> bool:
    return any("--json" in getattr(p, "opts", ()) for p in getattr(cmd, "params", ()))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0) if not isinstance(e.code, str) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_literal(text: str) -> None:
    """No terminal control reaches the screen; markup was not interpreted; no faked line."""
    for c in text:
        if c == "\n":
            continue
        cat = unicodedata.category(c)
        assert cat[0] != "C" and cat not in ("Zl", "Zp"), f"raw {c!r} in output: {text!r}"
    assert "Traceback" not in text, text
    if "HOSTILE" in text:
        assert "[bold red]HOSTILE[" in text, text
    assert not any(line.startswith("FAKE-LINE") for line in text.splitlines()), text


# -- usage errors and help --------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *name.split(), "--no-such-option")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "--no-such-option" in err and "--help" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", [n for n, c in COMMANDS if _accepts_json(c)])
def test_json_usage_error_is_json(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *name.split(), "--json", "--no-such-option")
    assert code == 2
    assert json.loads(out)["error"]["exit_code"] == 2


@pytest.mark.parametrize("name", NAMES)
def test_help_is_plain_and_every_option_explained(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *name.split(), "--help")
    assert code == 0, err
    assert not re.search(r"<(bool|str|int|path|list\[[^]]*\])>", out), out
    assert "{" not in out.splitlines()[0], out
    cmd = dict(COMMANDS)[name]
    for p in cmd.params:
        if getattr(p, "hidden", False) or p.param_type_name != "option":
            continue
        assert (p.help or "").strip(), f"{name} {p.opts} has no help"


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert "Usage: witnessbox" in err and "Traceback" not in err


def test_a_bug_says_so_before_its_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A real defect stand-in: the archive header is a folder where a file belongs, which the
    # library does not expect (IsADirectoryError is mapped; a bare RuntimeError is not).
    from witnessbox.cli import archive as archive_cli

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(archive_cli, "_open", broken)
    with pytest.raises(RuntimeError):
        main(["list", "-A", str(tmp_path)])
    err = capsys.readouterr().err
    assert err.startswith("internal error:") and "bug" in err and "report" in err


# -- --json and hostile text over a real archive ---------------------------------------------
@pytest.fixture(scope="module")
def _hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive whose items, region and incident carry hostile names and text."""
    from witnessbox.catalog import IncidentInput, make_timespan
    from witnessbox.workspace import Workspace

    base = tmp_path_factory.mktemp("hostile")
    src = base / "in"
    src.mkdir()
    (src / HOSTILE.replace("/", "_")).write_text("hostile name")
    (src / LONG).write_bytes(b"\xff\xd8 not really a jpeg")
    ws = Workspace.init(base / "archive", PASSPHRASE)
    ws.add([src], source=HOSTILE, note=HOSTILE, place=HOSTILE)
    ws.incidents.add_region("Minsk " + HOSTILE.replace("\n", " ").replace("\r", " ").replace("\x1b", "").replace("\x07", "").replace("\x9b", "").replace("\u202e", "").replace("\u200f", ""))
    ws.incidents.add(IncidentInput(
        id="inc-h", title="[bold red]HOSTILE[/] title", time=make_timespan("2020-08-10", "", ""), place="[/b]",
        region=ws.incidents.regions()[0].name, categories=("arbitrary-detention",), description="[bold red]HOSTILE[/] [/b] text",
    ))
    ws.close()
    return base / "archive"


@pytest.fixture
def hostile_archive(_hostile_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = Path(shutil.copytree(_hostile_template, tmp_path / "archive"))
    monkeypatch.setenv("WITNESSBOX_ARCHIVE", str(root))
    monkeypatch.setenv("WITNESSBOX_PASSPHRASE", PASSPHRASE)
    monkeypatch.chdir(tmp_path)
    return root


def _fill(cmd: object, value: str) -> list[str]:
    """Arguments for ``cmd``: every required argument and option gets ``value`` (numbers 1)."""
    args: list[str] = []
    for p in getattr(cmd, "params", ()):
        if not p.required:
            continue
        kind = getattr(getattr(p, "type_descriptor", None), "annotation", None)
        v = "1" if kind in (int, float) else value
        if p.param_type_name == "argument":
            args.append(v)
        else:
            args += [p.opts[0], v]
    return args


@pytest.mark.parametrize("value", [HOSTILE, LONG, "../../etc/passwd"], ids=["escapes", "long", "dotdot"])
@pytest.mark.parametrize("name", [n for n in NAMES if n.split()[0] not in SLOW and n not in SERVERS])
def test_hostile_text_is_printed_literally(name: str, value: str, hostile_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cmd = dict(COMMANDS)[name]
    code, out, err = run(capsys, *name.split(), *_fill(cmd, value))
    assert_literal(out)
    assert_literal(err)
    assert code != 1 or "internal error" not in err, err
    if _accepts_json(cmd):
        code, out, err = run(capsys, *name.split(), *_fill(cmd, value), "--json")
        json.loads(out)  # one document, success or failure
        assert_literal(out)  # controls, C1 and bidi as \\u escapes even inside JSON strings
        assert_literal(err)


@pytest.mark.parametrize("name", ["list", "log", "show", "incident list", "incident show", "region list", "copies"])
def test_reading_commands_print_hostile_records_literally(name: str, hostile_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from witnessbox.workspace import Workspace

    with Workspace.open(hostile_archive) as ws:
        sha = ws.items()[0].sha256
    args = {"show": [sha[:12]], "incident show": ["inc-h"]}.get(name, [])
    code, out, err = run(capsys, *name.split(), *args)
    assert code == 0, err
    assert_literal(out + err)
    if name in ("list", "show", "incident list", "incident show"):
        assert "HOSTILE" in out


def test_piped_tables_are_not_cut(hostile_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from witnessbox.workspace import Workspace

    with Workspace.open(hostile_archive) as ws:
        items = ws.items()
    code, out, _ = run(capsys, "list")
    assert code == 0
    for r in items:
        line = next(line for line in out.splitlines() if r.sha256[:16] in line)
        assert r.received_at[:19] in line  # the id and the time whole, on one line
    assert LONG in out


# -- base dependencies only --------------------------------------------------------------------
def _closure(extra: str) -> set[str]:
    from packaging.requirements import Requirement

    def norm(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n).lower()

    todo = [Requirement(r) for r in metadata.requires("witnessbox") or []]
    todo = [r for r in todo if (r.marker is None and not extra) or (r.marker is not None and r.marker.evaluate({"extra": extra}))]
    seen: set[str] = set()
    while todo:
        r = todo.pop()
        if norm(r.name) in seen:
            continue
        seen.add(norm(r.name))
        try:
            reqs = metadata.requires(r.name) or []
        except metadata.PackageNotFoundError:
            continue
        for q in map(Requirement, reqs):
            if q.marker is None or q.marker.evaluate({"extra": ""}):
                todo.append(q)
    return seen


_BOOT = r"""
import importlib.abc, io, json, sys
HIDDEN = set(json.loads(sys.argv[1]))
class Hide(importlib.abc.MetaPathFinder):
    # Wraps each finder: a hidden module is not found (find_spec None), exactly as if it
    # were not installed, so `importlib.util.find_spec` and `import` both see it absent.
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return None
        find = getattr(self.inner, "find_spec", None)
        return find(name, path, target) if find else None
    def __getattr__(self, attr):
        return getattr(self.inner, attr)
sys.meta_path[:] = [Hide(f) for f in sys.meta_path]
for m in list(sys.modules):
    if m.split(".")[0] in HIDDEN:
        del sys.modules[m]
from witnessbox.cli import main
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    try:
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:
            import traceback
            traceback.print_exc()
            code = -1
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def test_usage_errors_with_base_dependencies_only(tmp_path: Path, hostile_archive: Path) -> None:
    """Usage errors, hostile names, help and ``--json`` in an environment without the test extras.

    A real second venv would cost a full install of the base dependencies (minutes, and
    network-dependent). Instead a subprocess of this interpreter hides, with a meta-path
    finder installed before witnessbox is imported, every distribution that only the ``test``
    extra brings in (computed from the installed metadata: the test extra's requirement
    closure minus the base one), and ``click``, which made every usage error crash before
    (typer 0.29 does not need it; only uvicorn, when a server starts, does).
    """
    hidden_dists = _closure("test") - _closure("")
    mods = metadata.packages_distributions()
    hidden = sorted(m for m, dists in mods.items() if any(re.sub(r"[-_.]+", "-", d).lower() in hidden_dists for d in dists))
    assert "pytest" in hidden
    # uvicorn (a base dependency since the web apps) brings click in, but witnessbox's own
    # command line must not need it: typer vendors its own copy. Hide it too; no server starts here.
    hidden = sorted({*hidden, "click"})
    argvs = [[*name.split(), "--no-such-option"] for name in NAMES]
    argvs += [["list", "-A", str(tmp_path / "none"), "--json"], ["--version"], ["add"], ["incident"]]
    cmds = dict(COMMANDS)
    hostile_runs = [[*n.split(), *_fill(cmds[n], HOSTILE)] for n in NAMES if n.split()[0] not in SLOW and n not in SERVERS]
    hostile_runs += [[*n.split(), *_fill(cmds[n], HOSTILE), "--json"] for n in NAMES if n.split()[0] not in SLOW and n not in SERVERS and _accepts_json(cmds[n])]
    hostile_runs += [["list"], ["list", "--json"], ["incident", "list", "--json"], ["incident", "show", "inc-h"]]
    argvs += hostile_runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("WITNESSBOX_")}
    env.update(WITNESSBOX_ARCHIVE=str(hostile_archive), WITNESSBOX_PASSPHRASE=PASSPHRASE)
    r = subprocess.run([sys.executable, "-c", _BOOT, json.dumps(hidden), json.dumps(argvs)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    for res in results[: len(NAMES)]:
        assert res["code"] == 2, res
        assert len(res["err"].strip().splitlines()) == 1 and "Traceback" not in res["err"], res
    nojson, version, missing, group = results[len(NAMES):len(NAMES) + 4]
    for res in results[len(NAMES) + 4:]:
        assert res["code"] != -1, res  # an escaped exception
        assert_literal(res["out"])
        assert_literal(res["err"])
        if "--json" in res["argv"]:
            json.loads(res["out"])
    listed = results[-3]
    assert any("HOSTILE" in i["name"] for i in json.loads(listed["out"])), listed
    assert nojson["code"] == 5 and json.loads(nojson["out"])["error"]["exit_code"] == 5, nojson
    assert version["code"] == 0 and version["out"].startswith("witnessbox ")
    assert missing["code"] == 2 and "Missing argument" in missing["err"], missing
    assert "Usage:" in group["err"] and "Traceback" not in group["err"], group


def test_json_keeps_utf8_readable(hostile_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "region", "add", "Мінск")[0] == 0
    code, out, _ = run(capsys, "region", "list", "--json")
    assert code == 0 and "Мінск" in out and "\\u041c" not in out
    assert "Мінск" in [r["name"] for r in json.loads(out)]
