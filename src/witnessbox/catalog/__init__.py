"""The incident catalog: typed records, SQL tables and migrations, import and export.

See docs/catalog.md. Nothing here can hold personal data of any individual: observations are
limited to what is visible and official, testimonies are ciphertext produced by the caller.
"""

from .models import (
    DEFAULT_CATEGORIES,
    Approval,
    Category,
    Change,
    Coordinates,
    Incident,
    IncidentFilter,
    IncidentInput,
    Link,
    Observation,
    Precision,
    Region,
    Role,
    Status,
    Testimony,
    TestimonyInfo,
    TimeSpan,
    Vehicle,
    format_time_text,
    make_timespan,
    parse_coordinates,
    parse_enum,
)
from .schema import MIGRATIONS, create_schema
from .store import Catalog, region_slug
from .transfer import ImportReport, RowProblem, export_csv, export_json, import_file, incident_record
from .unit_match import Proposal, Resolution, propose, unambiguous_same
from .unit_transfer import UnitImportReport, export_units_csv, export_units_json, import_units, unit_record
from .units import FreeText, MergeReport, Unit, UnitKind, UnitRegistry, ancestors_of

__all__ = [
    "FreeText",
    "MergeReport",
    "Proposal",
    "Resolution",
    "Unit",
    "UnitImportReport",
    "UnitKind",
    "UnitRegistry",
    "ancestors_of",
    "export_units_csv",
    "export_units_json",
    "import_units",
    "propose",
    "unambiguous_same",
    "unit_record",
    "DEFAULT_CATEGORIES",
    "MIGRATIONS",
    "Approval",
    "Catalog",
    "Category",
    "Change",
    "Coordinates",
    "ImportReport",
    "Incident",
    "IncidentFilter",
    "IncidentInput",
    "Link",
    "Observation",
    "Precision",
    "Region",
    "Role",
    "RowProblem",
    "Status",
    "Testimony",
    "TestimonyInfo",
    "TimeSpan",
    "Vehicle",
    "create_schema",
    "export_csv",
    "export_json",
    "import_file",
    "incident_record",
    "format_time_text",
    "make_timespan",
    "parse_coordinates",
    "parse_enum",
    "region_slug",
]
