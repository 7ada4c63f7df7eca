"""Typed records: times, ids, coordinates, the status life cycle, the closed observation set."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from witnessbox.catalog import Observation, Precision, Status, Vehicle, make_timespan, parse_coordinates
from witnessbox.catalog.models import check_id, check_transition, clean_text, format_time_text
from witnessbox.errors import InputError


def test_bare_date_defaults_to_day_precision() -> None:
    span = make_timespan("2020-08-09")
    assert span.precision == Precision.DAY
    assert span.start == datetime(2020, 8, 9)
    assert format_time_text(span.start, span.precision) == "2020-08-09"


def test_datetime_defaults_to_exact_and_keeps_offset() -> None:
    span = make_timespan("2020-08-09T21:30+03:00", "2020-08-09T23:00+03:00")
    assert span.precision == Precision.EXACT
    assert span.start.utcoffset() == timedelta(hours=3)
    assert span.sort_key() == "2020-08-09T18:30:00"  # UTC, so offsets sort together
    assert make_timespan("2020-08-09T21:30Z").start.tzinfo == timezone.utc


@pytest.mark.parametrize(
    ("start", "end", "precision", "message"),
    [
        ("", "", "", "start is empty"),
        ("2020-13-01", "", "", "not ISO 8601"),
        ("09.08.2020", "", "", "not ISO 8601"),
        ("2020-08-09", "2020-08-01", "", "before start"),
        ("2020-08-09", "", "roughly", "unknown precision"),
        ("2020-08-09T10:00+03:00", "2020-08-09T12:00", "", "both have"),
    ],
)
def test_bad_times_are_refused(start: str, end: str, precision: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_timespan(start, end, precision)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a b", "-start", "x" * 65, "<script>", "ід"])
def test_bad_ids_are_refused(bad: str) -> None:
    with pytest.raises(InputError):
        check_id(bad)


def test_good_ids() -> None:
    assert check_id(" BY-2020_001 ") == "BY-2020_001"


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (Status.DRAFT, Status.VERIFIED, True),
        (Status.DRAFT, Status.PUBLISHED, False),
        (Status.VERIFIED, Status.PUBLISHED, True),
        (Status.PUBLISHED, Status.DRAFT, True),
        (Status.PUBLISHED, Status.VERIFIED, True),
        (Status.VERIFIED, Status.DRAFT, True),
        (Status.DRAFT, Status.DRAFT, True),
    ],
)
def test_status_life_cycle(old: Status, new: Status, ok: bool) -> None:
    if ok:
        check_transition(old, new)
    else:
        with pytest.raises(InputError, match="verified first"):
            check_transition(old, new)


def test_coordinates() -> None:
    c = parse_coordinates("53.9, 27.5667")
    assert c is not None and (c.lat, c.lon) == (53.9, 27.5667)
    assert parse_coordinates("") is None
    for bad in ("91,0", "0,181", "north", "1,2,3"):
        with pytest.raises(InputError):
            parse_coordinates(bad)


def test_observation_has_no_personal_data_field() -> None:
    # The product never identifies anyone: the only fields are visible and official facts.
    assert [f.name for f in dataclasses.fields(Observation)] == ["unit", "insignia", "uniform", "vehicles", "officers", "unit_slug"]
    assert [f.name for f in dataclasses.fields(Vehicle)] == ["type", "plate"]
    with pytest.raises(InputError):
        Observation()
    with pytest.raises(InputError):
        Observation(unit="x", officers=-1)


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "nul\x00", "l\u2028s"])
def test_clean_text_refuses_control_characters(bad: str) -> None:
    with pytest.raises(InputError, match="control"):
        clean_text(bad, "title")
