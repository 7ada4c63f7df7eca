"""Streaming a multipart upload straight into an encrypted submission.

Starlette's own form parser spools large files to a temporary file: plaintext on disk. This
one feeds each file part to :class:`witnessbox.dropbox.Submission` as it arrives, so a file is
only ever in memory one batch at a time (or whole, in memory, when its metadata is removed).
The CSRF token must be the first part: no byte of a file is written before it is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header

from ...dropbox import FileSink, Inbox, Limits, SourceKeys, Statement, Submission, SubmissionState
from ...errors import SizeLimitError

_TEXT_LIMITS = {"csrf": 200, "strip": 10, "statement": 400_000, "when": 4000, "where": 4000, "unit": 4000,
                "how_known": 4000}
_BATCH = 4 * 1024 * 1024


class CsrfFailure(Exception):
    """The first part was not the session's CSRF token."""


class _Receiver:
    def __init__(self, inbox: Inbox, keys: SourceKeys, csrf: str, language: str, limits: Limits,
                 compare: object) -> None:
        self._inbox = inbox
        self._keys = keys
        self._csrf = csrf
        self._language = language
        self._limits = limits
        self._compare = compare
        self.submission: Submission | None = None
        self._fields: dict[str, str] = {}
        self._headers: dict[bytes, bytes] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._name = ""
        self._text: bytearray | None = None
        self._sink: FileSink | None = None
        self._skip = False
        self._parts = 0

    # python-multipart callbacks -------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}
        self._name, self._text, self._sink, self._skip = "", None, None, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._hname).lower()] = bytes(self._hvalue)
        self._hname, self._hvalue = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        self._parts += 1
        if self._parts == 1 and self._name != "csrf":
            raise CsrfFailure()
        if self._parts > 1 and self.submission is None:
            raise CsrfFailure()
        if b"filename" in opts and self._name == "files":
            filename = opts[b"filename"].decode("utf-8", "replace")
            if not filename:  # an empty file input: browsers send a part with no name
                self._skip = True
                return
            assert self.submission is not None
            self._sink = self.submission.add_file(filename, strip_metadata=self._fields.get("strip") == "1")
        elif self._name in _TEXT_LIMITS:
            self._text = bytearray()
        else:
            self._skip = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            # A view, not a copy: ``data`` is an immutable batch that nothing reuses.
            self._sink.write(memoryview(data)[start:end])
        elif self._text is not None:
            self._text += data[start:end]
            if len(self._text) > _TEXT_LIMITS[self._name]:
                raise SizeLimitError(f"the field {self._name!r} is too long")

    def on_part_end(self) -> None:
        if self._sink is not None:
            assert self.submission is not None
            self.submission.close_file()
            self._sink = None
        elif self._text is not None:
            value = self._text.decode("utf-8", "replace").replace("\r\n", "\n")
            self._fields[self._name] = value
            self._text = None
            if self._name == "csrf":
                if not self._compare(value, self._csrf):  # type: ignore[operator]
                    raise CsrfFailure()
                self.submission = self._inbox.new_submission(self._keys, language=self._language, limits=self._limits)

    def finish(self) -> SubmissionState:
        if self.submission is None:
            raise CsrfFailure()
        f = self._fields
        self.submission.set_statement(Statement(f.get("statement", "").strip(), f.get("when", "").strip(),
                                                f.get("where", "").strip(), f.get("unit", "").strip(),
                                                f.get("how_known", "").strip()))
        return self.submission.commit()

    def abort(self) -> None:
        if self.submission is not None:
            self.submission.abort()


async def receive(stream: AsyncIterator[bytes], content_type: str, *, inbox: Inbox, keys: SourceKeys, csrf: str,
                  language: str, limits: Limits, compare: object) -> SubmissionState:
    """Parse the upload, encrypting as it goes; commit at the end, or remove everything on error.

    Raises:
        CsrfFailure: No valid token first.
        SizeLimitError: Over a limit (nothing kept).
        InputError: Nothing to send, or metadata removal failed (nothing kept).
        CsrfFailure: Also for a body that is not multipart.
    """
    ctype, opts = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or b"boundary" not in opts:
        raise CsrfFailure()  # not our form: its token cannot be where it must be
    rec = _Receiver(inbox, keys, csrf, language, limits, compare)
    callbacks = {name: getattr(rec, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    parser = MultipartParser(opts[b"boundary"], callbacks)  # type: ignore[arg-type]
    # Double buffering: one batch is parsed and encrypted on a worker thread while the next one is
    # received; encryption and disk writes never run on the event loop. At most two batches
    # (2 x 4 MiB) are in memory.
    working: asyncio.Future[int] | None = None
    try:
        batch: list[bytes] = []
        size = 0
        async for chunk in stream:
            batch.append(chunk)
            size += len(chunk)
            if size >= _BATCH:
                data, batch, size = b"".join(batch), [], 0
                if working is not None:
                    await working
                working = asyncio.ensure_future(anyio.to_thread.run_sync(parser.write, data))
        if working is not None:
            await working
            working = None
        if batch:
            await anyio.to_thread.run_sync(parser.write, b"".join(batch))
        parser.finalize()
        return await anyio.to_thread.run_sync(rec.finish)
    except BaseException:
        if working is not None:
            # Let the worker stop before the folder is removed under it.
            with contextlib.suppress(BaseException):
                await asyncio.shield(working)
        rec.abort()
        raise
