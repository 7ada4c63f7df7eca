"""The be, ru and en catalogs hold every message the app shows (plural forms included)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from witnessbox.web.i18n import LANGUAGES, translations

PROJECT = Path(__file__).resolve().parents[2]


def test_catalogs_are_complete() -> None:
    r = subprocess.run([sys.executable, str(PROJECT / "scripts" / "web_messages.py")], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_plural_forms() -> None:
    be = translations("be")
    assert be.ngettext("%(num)d item", "%(num)d items", 1) % {"num": 1} == "1 прадмет"
    assert be.ngettext("%(num)d item", "%(num)d items", 3) % {"num": 3} == "3 прадметы"
    assert be.ngettext("%(num)d item", "%(num)d items", 11) % {"num": 11} == "11 прадметаў"
    assert translations("ru").ngettext("%(num)d incident", "%(num)d incidents", 22) % {"num": 22} == "22 инцидента"
    assert set(LANGUAGES) == {"be", "ru", "en"}


def test_dates_in_the_readers_language() -> None:
    from witnessbox.web.i18n import format_span, format_when

    assert format_when("2026-03-01", "be").replace("\u202f", " ") == "1 сак 2026 г."
    assert "мар" in format_when("2026-03-01", "ru") and format_when("2026-03-01", "en") == "Mar 1, 2026"
    assert " – " in format_span("2026-03-01T10:00/2026-03-01T12:30", "en")
    assert format_when("not a date <b>", "be") == "not a date <b>"  # shown escaped by the template
