"""Streaming multipart uploads: each file goes straight to a staging folder on disk.

Never is a whole file in memory: the body is parsed chunk by chunk (python-multipart) and each
file part is written to ``<archive>/tmp/plain-<pid>-web-<random>/<n>/<name>``. That folder
name follows the archive's recovery rule: while this server process lives, recovery leaves it
alone; after a crash (kill -9) recovery deletes it. Nothing is sealed until the whole body has
arrived, so an upload cut off mid-way leaves nothing sealed; the staging folder is removed in
every case (:meth:`Staging.cleanup`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..errors import InputError

MAX_FILES = 200
MAX_FIELD = 64 * 1024
MAX_NAME_BYTES = 200


def safe_file_name(raw: str) -> str:
    """A plain file name from whatever the browser sent: last path component, no control
    characters, not hidden, not ``.``/``..``; ``upload`` when nothing is left."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").split("/")[-1])
    name = "".join(c for c in name if c.isprintable() and c not in "\x00").strip().lstrip(".")
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:
        name = name[:-1]
    return name or "upload"


@dataclass
class StagedFile:
    path: Path
    name: str
    size: int = 0


@dataclass
class Staging:
    """The files and fields of one upload request."""

    root: Path
    files: list[StagedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


async def receive_upload(request: Request, archive_root: Path, *, max_file_size: int) -> Staging:
    """Parse a ``multipart/form-data`` body into a staging folder.

    Raises:
        InputError: Not multipart, too many files, a field or file too large, or a malformed
            or cut-off body (the staging folder is removed then).
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InputError("send the files as multipart/form-data")
    root = archive_root / "tmp" / f"plain-{os.getpid()}-web-{secrets.token_hex(8)}"
    root.mkdir(mode=0o700)
    staging = Staging(root)
    headers: dict[bytes, bytes] = {}
    header_field = bytearray()
    header_value = bytearray()
    current: dict[str, object] = {}
    out: list[IO[bytes] | None] = [None]
    errors: list[str] = []

    def on_part_begin() -> None:
        headers.clear()
        current.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _disp, opts = parse_options_header(headers.get(b"content-disposition", b""))
        fname = opts.get(b"filename")
        current["field"] = opts.get(b"name", b"").decode("utf-8", "replace")
        if fname is not None:
            if len(staging.files) >= MAX_FILES:
                errors.append(f"at most {MAX_FILES} files at once")
                return
            name = safe_file_name(fname.decode("utf-8", "replace"))
            d = root / str(len(staging.files))
            d.mkdir(mode=0o700)
            sf = StagedFile(d / name, name)
            staging.files.append(sf)
            current["file"] = sf
            out[0] = open(sf.path, "xb")  # noqa: SIM115 - closed in on_part_end or below
        else:
            current["value"] = bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        sf = current.get("file")
        if isinstance(sf, StagedFile) and out[0] is not None:
            sf.size += end - start
            if sf.size > max_file_size:
                errors.append(f"{sf.name}: larger than the limit of {max_file_size} bytes")
                return
            out[0].write(data[start:end])
        else:
            value = current.get("value")
            if isinstance(value, bytearray):
                value.extend(data[start:end])
                if len(value) > MAX_FIELD:
                    errors.append("a form field is too long")

    def on_part_end() -> None:
        if out[0] is not None:
            out[0].close()
            out[0] = None
        value = current.get("value")
        if isinstance(value, bytearray):
            staging.fields[str(current.get("field", ""))] = value.decode("utf-8", "replace")

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if errors:
                raise InputError(errors[0])
        parser.finalize()
        if out[0] is not None or not _complete(parser):
            raise InputError("the upload was cut off: nothing was sealed, send it again")
    except InputError:
        if out[0] is not None:
            out[0].close()
        staging.cleanup()
        raise
    except Exception as e:
        if out[0] is not None:
            out[0].close()
        staging.cleanup()
        raise InputError("the upload was cut off or malformed: nothing was sealed, send it again") from e
    return staging


def _complete(parser: MultipartParser) -> bool:
    from python_multipart.multipart import MultipartState

    # The closing boundary was seen (a cut-off body ends in PART_DATA or earlier).
    return parser.state in (MultipartState.END, MultipartState.END_BOUNDARY)
