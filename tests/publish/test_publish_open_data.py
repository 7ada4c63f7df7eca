"""incidents.csv as open data: formula cells neutralised, numbers left as numbers."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from witnessbox.publish.site import incidents_csv


def _record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "i1", "url": "incidents/i1.html", "title": "Title", "start": "2020-08-10", "end": "",
        "precision": "day", "place": "Square", "region": "Minsk", "coordinates": None,
        "categories": ["beating"], "description": "", "sources": [], "media": [],
    }
    rec.update(over)
    return rec


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("lat,lon", [(-53.9, -27.5), (53.9, 27.5), (-0.5, 179.0)])
def test_coordinates_stay_numbers(lat: float, lon: float) -> None:
    (row,) = _rows(incidents_csv([_record(coordinates={"lat": lat, "lon": lon})]))
    assert (float(row["lat"]), float(row["lon"])) == (lat, lon)


@pytest.mark.parametrize("field", ["title", "place", "region", "description"])
@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_neutralised(field: str, value: str) -> None:
    (row,) = _rows(incidents_csv([_record(**{field: value})]))
    assert row[field][:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert row[field].endswith(value[1:])


def test_formula_in_sources_and_categories_is_neutralised() -> None:
    (row,) = _rows(incidents_csv([_record(sources=["=cmd|' /C calc'!A0"], categories=["=x"])]))
    assert row["sources"].startswith("'=") and row["categories"].startswith("'=")
