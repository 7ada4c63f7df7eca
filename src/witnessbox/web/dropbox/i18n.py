"""The drop box's languages: gettext catalogs (``locale/<lang>/LC_MESSAGES/messages.po``),
compiled with Babel when the server starts, one Jinja2 environment per language."""

from __future__ import annotations

import functools
import io
from importlib import resources

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES: tuple[tuple[str, str], ...] = (("be", "Беларуская"), ("ru", "Русский"), ("en", "English"))
CODES = tuple(c for c, _ in LANGUAGES)
DEFAULT = "en"


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


@functools.cache
def translations(lang: str) -> Translations:
    po = resources.files(__package__).joinpath("locale", lang, "LC_MESSAGES", "messages.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


@functools.cache
def environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def negotiate(accept_language: str | None) -> str:
    """The best of be/ru/en for an ``Accept-Language`` header (English when none fits)."""
    best, best_q = DEFAULT, -1.0
    for item in (accept_language or "").split(",")[:20]:
        tag, _, params = item.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code in CODES and q > best_q:
            best, best_q = code, q
    return best
