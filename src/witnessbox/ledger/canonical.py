"""Canonical JSON (RFC 8785) and UTC timestamps: the bytes that get signed and hashed."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

import rfc8785

from ..errors import IntegrityError


def canonical_bytes(value: Any) -> bytes:
    """Serialize ``value`` (JSON types only) as RFC 8785 canonical JSON.

    Raises:
        ValueError: ``value`` holds a non-JSON type, a float that is NaN or infinite, an
            integer beyond IEEE 754 double precision, or a string with lone surrogates.
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, UnicodeEncodeError) as e:
        raise ValueError(f"cannot canonicalize: {e}") from e


def _parse_int(text: str) -> int | float:
    # RFC 8785 writes large doubles without an exponent; read them back as the doubles they are.
    n = int(text)
    return n if abs(n) <= 2**53 - 1 else float(n)


def parse_canonical(data: bytes, *, what: str) -> dict[str, Any]:
    """Parse ``data`` as a JSON object and require that it is already canonical.

    Verifiers check the stored bytes, never a re-serialization; requiring canonical form
    removes any ambiguity about which bytes a signature or hash covers.

    Raises:
        IntegrityError: Not UTF-8 JSON, not an object, nested too deeply, or not in canonical form.
    """
    try:
        value = json.loads(data.decode("utf-8"), parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError) as e:
        raise IntegrityError(f"{what}: not valid JSON ({e})") from e
    except RecursionError as e:  # hostile nesting (log entries and proofs are not signed input)
        raise IntegrityError(f"{what}: nested too deeply") from e
    if not isinstance(value, dict):
        raise IntegrityError(f"{what}: not a JSON object")
    try:
        again = canonical_bytes(value)
    except ValueError as e:
        raise IntegrityError(f"{what}: {e}") from e
    except RecursionError as e:
        raise IntegrityError(f"{what}: nested too deeply") from e
    if again != data:
        raise IntegrityError(f"{what}: not in canonical (RFC 8785) form")
    return value


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """The current time as ISO 8601 UTC with microseconds and a ``Z`` suffix."""
    return format_utc(_dt.datetime.now(_dt.timezone.utc))


def format_utc(t: _dt.datetime) -> str:
    """``t`` (aware) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
