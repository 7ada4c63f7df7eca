"""Sanitised Markdown, complete translation catalogs, localised dates."""

from __future__ import annotations

from importlib import resources
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from witnessbox.catalog import make_timespan
from witnessbox.publish.text import LANGUAGES, format_span, render_markdown, translations

PKG = Path(str(resources.files("witnessbox.publish")))

XSS_MARKDOWN = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](https://tracker.example/p.gif)",
    "<a href='https://e.org' onclick='alert(1)'>x</a>",
    "<iframe src='https://e.org'></iframe>",
    "<svg><script>alert(1)</script></svg>",
    "[x](https://e.org \"title\" onmouseover=alert(1))",
    "<style>body{display:none}</style>",
    "``<script>`` and `</code><script>alert(1)</script>`",
    "<details open ontoggle=alert(1)>",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("source", XSS_MARKDOWN)
def test_markdown_lets_no_script_through(source: str) -> None:
    parser = _Tags()
    parser.feed(render_markdown(source))
    for tag, attrs in parser.tags:
        assert tag in {"p", "em", "strong", "a", "ul", "ol", "li", "blockquote", "code", "pre", "br", "hr", "h3", "h4", "h5", "h6"}
        assert set(attrs) <= {"href", "title", "rel"}, attrs
        if "href" in attrs:
            assert (attrs["href"] or "").startswith(("http://", "https://", "mailto:")), attrs


def test_markdown_keeps_formatting_and_safe_links() -> None:
    html = render_markdown("# Загаловак\n\n**тлуста** [link](https://example.org)")
    assert "<h3>Загаловак</h3>" in html and "<strong>тлуста</strong>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def _extracted() -> set[str]:
    method_map = [("templates/**", "jinja2"), ("**.py", "python")]
    ids: set[str] = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(PKG), method_map=method_map, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
        options_map={"templates/**": {"extensions": "jinja2.ext.i18n"}},
    ):
        ids.add(msg if isinstance(msg, str) else msg[0])
    return ids


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogs_are_complete(lang: str) -> None:
    ids = _extracted()
    assert len(ids) > 50
    with (PKG / "locale" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        cat = read_po(f, locale=lang)
    missing = [i for i in ids if not cat.get(i) or not all(cat.get(i).string if isinstance(cat.get(i).string, tuple) else [cat.get(i).string])]
    assert missing == []
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert fuzzy == []


def test_belarusian_plurals_and_dates() -> None:
    t = translations("be")
    forms = [t.ngettext("%(num)d published incident", "%(num)d published incidents", n) % {"num": n} for n in (1, 3, 5, 21)]
    assert forms == ["1 апублікаваны інцыдэнт", "3 апублікаваныя інцыдэнты", "5 апублікаваных інцыдэнтаў", "21 апублікаваны інцыдэнт"]
    assert format_span(make_timespan("2020-08-09", "", "approximate"), "be").startswith("каля 9 жніўня 2020")
    assert format_span(make_timespan("2020-08-09T21:30"), "en") == "August 9, 2020, 21:30"


def test_unknown_language_is_refused() -> None:
    from witnessbox.errors import UsageError

    with pytest.raises(UsageError, match="en, be"):
        translations("xx")
