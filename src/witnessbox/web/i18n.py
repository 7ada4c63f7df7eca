"""Interface languages of the documenters' app: Belarusian (default), Russian, English.

Catalogs are gettext ``.po`` files in ``web/locale`` (English is the source language),
compiled with Babel when first used, like the public site's (``publish/text.py``).
"""

from __future__ import annotations

import functools
import io
from gettext import NullTranslations
from importlib import resources

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
