"""Text for the public site: translations (Babel gettext catalogs), dates, sanitised Markdown.

The catalogs live as ``.po`` files in ``publish/locale/<lang>/LC_MESSAGES/messages.po`` and are
compiled in memory when a site is built, so the repository holds no binary ``.mo`` files.
Descriptions are Markdown rendered by markdown-it-py with raw HTML disabled, then cleaned by
nh3 with a short allow-list: no script, style, image, iframe or event handler gets through,
and links keep only http, https and mailto targets.
"""

from __future__ import annotations

import functools
import html
import io
from datetime import datetime
from importlib import resources

import nh3
from babel.core import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markdown_it import MarkdownIt

from ..catalog import Precision, TimeSpan
from ..errors import UsageError

LANGUAGES = ("en", "be", "ru")
"""Interface languages with complete catalogs."""


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here (translated at render time)."""
    return message


# Python-side interface text (labels of values stored in the catalog), extracted by Babel.
CATEGORY_LABELS = {
    "beating": N_("beating"),
    "arbitrary-detention": N_("arbitrary detention"),
    "chemical-agents": N_("chemical agents"),
    "less-lethal-weapons": N_("less-lethal weapons"),
    "firearms": N_("firearms"),
    "ill-treatment-in-custody": N_("ill-treatment in custody"),
    "destruction-of-property": N_("destruction of property"),
    "obstruction-of-journalists": N_("obstruction of journalists"),
    "other": N_("other"),
}
KIND_LABELS = {
    "police": N_("police"),
    "riot-police": N_("riot police"),
    "special-forces": N_("special forces"),
    "internal-troops": N_("internal troops"),
    "investigative-body": N_("investigative body"),
    "prison-service": N_("prison service"),
    "other": N_("other"),
}
ROLE_LABELS = {"primary": N_("primary footage"), "corroborating": N_("corroborating"), "context": N_("context")}
PRECISION_NOTES = {"exact": N_("exact time"), "day": N_("day known"), "approximate": N_("approximate")}


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog of ``lang`` (English is the source language).

    Raises:
        UsageError: no complete catalog for ``lang``.
    """
    if lang not in LANGUAGES:
        raise UsageError(f"unknown site language {lang!r}: use one of {', '.join(LANGUAGES)}")
    po = resources.files(__package__).joinpath("locale", lang, "LC_MESSAGES", "messages.po")
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain="messages")


def format_span(span: TimeSpan, lang: str) -> str:
    """Human text for when an incident happened, in ``lang``."""
    tr = translations(lang)
    loc = Locale.parse(lang)

    def one(t: datetime) -> str:
        d = format_date(t.date(), format="long", locale=loc)
        if span.precision == Precision.EXACT:
            return f"{d}, {format_time(t.time(), format='HH:mm', locale=loc)}"
        return d

    text = one(span.start)
    if span.end is not None and span.end != span.start:
        text = tr.gettext("%(start)s – %(end)s") % {"start": text, "end": one(span.end)}
    if span.precision == Precision.APPROXIMATE:
        text = tr.gettext("around %(date)s") % {"date": text}
    return text


def format_day(t: datetime, lang: str) -> str:
    """A date in the long form of ``lang``."""
    return format_date(t.date(), format="long", locale=Locale.parse(lang))


_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_TAGS = {"p", "em", "strong", "a", "ul", "ol", "li", "blockquote", "code", "pre", "br", "hr", "h3", "h4", "h5", "h6"}


def render_markdown(source: str) -> str:
    """Sanitised HTML for a Markdown description (safe to insert unescaped)."""
    # Headings h1/h2 belong to the page; demote them so a description cannot restructure it.
    rendered = _MD.render(source).replace("<h1>", "<h3>").replace("</h1>", "</h3>")
    rendered = rendered.replace("<h2>", "<h3>").replace("</h2>", "</h3>")
    return nh3.clean(
        rendered,
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def plain_excerpt(source: str, limit: int = 300) -> str:
    """Plain text of a Markdown description, shortened to ``limit`` characters."""
    return excerpt_of_html(_MD.render(source), limit)


def excerpt_of_html(html_text: str, limit: int = 300) -> str:
    """Plain text of rendered HTML (tags dropped, entities decoded), shortened to ``limit``."""
    text = " ".join(html.unescape(nh3.clean(html_text, tags=set())).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
