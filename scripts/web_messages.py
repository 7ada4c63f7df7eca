"""Extract the web app's messages into web/locale/messages.pot and list what each catalog lacks.

Run: .venv/bin/python scripts/web_messages.py   (then translate the .po files)
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parents[1] / "src" / "witnessbox" / "web"
METHODS = [("dropbox/**", "ignore"), ("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extract() -> Catalog:
    cat = Catalog(project="witnessbox-web")
    for filename, lineno, message, comments, context in extract_from_dir(
            WEB, METHODS, OPTIONS, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}):
        cat.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return cat


def main() -> int:
    cat = extract()
    with open(WEB / "locale" / "messages.pot", "wb") as f:
        write_po(f, cat, omit_header=True, sort_output=True, no_location=True)
    missing = 0
    for lang in ("be", "ru", "en"):
        with open(WEB / "locale" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
            po = read_po(f, locale=lang)
        for m in cat:
            if m.id and (m.id not in po or not po[m.id].string or (isinstance(po[m.id].string, tuple) and not all(po[m.id].string))):
                print(f"{lang}: {m.id!r}")
                missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
