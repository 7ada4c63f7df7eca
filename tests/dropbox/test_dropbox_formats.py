"""The documented drop-box formats (docs/dropbox.md) against golden files, and the catalogs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pyrage
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from test_dropbox_inbox import make_inbox, new_source, send

from witnessbox.workspace import Workspace

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dropbox.md"
WEB = Path(__file__).resolve().parents[2] / "src" / "witnessbox" / "web" / "dropbox"

_RULES = [
    (re.compile(r"\d{4}-\d{2}-\d{2}-[0-9a-f]{16}"), "<id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<day>"),
    (re.compile(r"[0-9a-f]{64}"), "<sha256>"),
    (re.compile(r"[0-9a-f]{32}"), "<lookup>"),
    (re.compile(r"age1[0-9a-z]{58}"), "<age-recipient>"),
]


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str):
        for pattern, placeholder in _RULES:
            if pattern.fullmatch(value):
                return placeholder
    return value


def check(name: str, value: Any) -> None:
    path = GOLDEN / f"{name}.json"
    got = normalized(value)
    if not path.exists():
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
        pytest.fail(f"{path} was missing and has been written: review it and commit it")
    assert got == json.loads(path.read_text()), f"{name} differs from {path}: update docs/dropbox.md too"
    doc = DOCS.read_text()
    for key in got if isinstance(got, dict) else []:
        assert f'"{key}"' in doc, f"{name}: key {key!r} is not documented"


def test_formats_match_the_golden_files(ws: Workspace, tmp_path: Path, recipient_file: Path) -> None:
    inbox = make_inbox(tmp_path, recipient_file)
    _, keys = new_source(inbox)
    state = send(inbox, keys, [("a.txt", b"hello"), ("b.jpg", b"\xff\xd8\xff not really a jpeg")], strip=False)
    folder = inbox.root / "submissions" / state.id
    identity = ws._identity()
    assert identity is not None
    check("inbox", json.loads((inbox.root / "inbox.json").read_text()) | {"salt": "<salt>"})
    check("commit", json.loads((folder / "COMMIT").read_text()))
    check("manifest", json.loads(pyrage.decrypt((folder / "manifest.age").read_bytes(), [identity])))
    check("statement", json.loads(pyrage.decrypt((folder / "statement.age").read_bytes(), [identity])))
    check("source", json.loads((inbox.root / "sources" / f"{keys.lookup}.json").read_text()))
    ws.dropbox.import_(inbox.root)
    reply_id = ws.dropbox.reply(state.id, "received, thank you")
    reply = (inbox.root / "replies" / keys.lookup / f"{reply_id}.age").read_bytes()
    check("reply", json.loads(pyrage.decrypt(reply, [pyrage.x25519.Identity.from_str(keys.identity)])))
    for p in folder.iterdir():
        assert p.stat().st_mode & 0o077 == 0, p
    assert folder.stat().st_mode & 0o077 == 0


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    out = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(str(WEB), method_map, keywords={"_": None, "N_": None}):
        out.add(message if isinstance(message, str) else message[0])
    return out


@pytest.mark.parametrize("lang", ["be", "ru", "en"])
def test_catalogs_are_complete(lang: str) -> None:
    with open(WEB / "locale" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f, locale=lang)
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    missing = _extracted() - set(translated)
    assert not missing, f"{lang}: untranslated: {sorted(missing)[:5]}"
    for msgid, text in translated.items():
        assert re.findall(r"%\(\w+\)s", str(msgid)) == re.findall(r"%\(\w+\)s", str(text)), (lang, msgid)
    if lang != "en":
        assert sum(1 for k, v in translated.items() if k == v) <= 2  # "Files" is the same word in ru


def test_pages_are_in_the_right_language() -> None:
    from witnessbox.web.dropbox import i18n

    page = i18n.environment("be").get_template("index.html").render(lang="be", languages=i18n.LANGUAGES)
    assert "Атрымаць кодавае імя" in page and 'lang="be"' in page
    assert io is not None
