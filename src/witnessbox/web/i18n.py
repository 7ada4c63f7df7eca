"""Interface languages of the documenters' app: Belarusian (default), Russian, English.

Catalogs are gettext ``.po`` files in ``web/locale`` (English is the source language),
compiled with Babel when first used, like the public site's (``publish/text.py``).
"""

from __future__ import annotations

import functools
import io
from gettext import NullTranslations
from importlib import resources

from datetime import datetime

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("be", "ru", "en")
DEFAULT_LANG = "be"
LANGUAGE_NAMES = {"be": "Беларуская", "ru": "Русский", "en": "English"}


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog of ``lang`` (an unknown language gets the default's)."""
    if lang not in LANGUAGES:
        lang = DEFAULT_LANG
    po = resources.files(__package__).joinpath("locale", lang, "LC_MESSAGES", "messages.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


#: Messages chosen at run time (labels, states, roles, page titles): listed so that the
#: catalogs hold them and the completeness test checks them.
DYNAMIC_MESSAGES = (
    N_("admin"), N_("editor"), N_("reviewer"), N_("viewer"),
    N_("draft"), N_("verified"), N_("published"),
    N_("added"), N_("duplicate"), N_("failed"),
    N_("image"), N_("video"), N_("audio"), N_("other"),
    N_("sha256"), N_("sha512"), N_("size"), N_("media type"), N_("received"), N_("source"), N_("note"),
    N_("place"), N_("captured"), N_("kind"), N_("container"), N_("dimensions"), N_("duration"), N_("codecs"),
    N_("camera"), N_("warnings"), N_("derivation"),
    N_("Please sign in"), N_("Not allowed"), N_("Not found"), N_("Busy"), N_("Account locked"),
    N_("Too many attempts"), N_("Something went wrong"), N_("This did not work"),
)


def format_when(value: str, lang: str) -> str:
    """An ISO 8601 date or time in the reader's language (the text unchanged if it is not one)."""
    text = value.strip()
    if not text:
        return ""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return value
    loc = lang if lang in LANGUAGES else DEFAULT_LANG
    if len(text) <= 10:
        return format_date(t.date(), format="medium", locale=loc)
    return format_datetime(t, format="medium", locale=loc, tzinfo=t.tzinfo)


def format_span(value: str, lang: str) -> str:
    """``start`` or ``start/end`` in the reader's language."""
    start, _, end = value.partition("/")
    return format_when(start, lang) + (" – " + format_when(end, lang) if end else "")
