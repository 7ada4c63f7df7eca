"""One error hierarchy for witnessbox.

Every error a user can meet is a :class:`WitnessboxError`. Each class carries its user-facing
message (a format string filled from keyword arguments), a process exit code and an HTTP
status, so the CLI and the web shell each catch in exactly one place. Integrity errors carry
full detail: a court-facing tool never hides what is broken.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WitnessboxError(Exception):
    """Something went wrong: {detail}"""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(self, detail: str = "", /, **fields: Any) -> None:
        self.detail = detail
        self.fields = fields
        super().__init__(self.message)

    @property
    def message(self) -> str:
        template = (type(self).__doc__ or "{detail}").strip().splitlines()[0]
        try:
            return template.format(detail=self.detail, **self.fields)
        except (KeyError, IndexError):
            return self.detail or template


class UsageError(WitnessboxError):
    """{detail}"""

    exit_code = 2
    http_status = 400


class InputError(WitnessboxError):
    """{detail}"""

    exit_code = 3
    http_status = 400


class UnsupportedMediaError(InputError):
    """{detail}"""


class NotFoundError(WitnessboxError):
    """{detail}"""

    exit_code = 4
    http_status = 404


class ArchiveError(WitnessboxError):
    """Archive problem: {detail}"""

    exit_code = 5
    http_status = 500


class StoreMismatchError(ArchiveError):
    """{detail}"""


class NoArchiveError(ArchiveError):
    """No witnessbox archive at {detail}: run `witnessbox init` first or set WITNESSBOX_ARCHIVE."""


class PassphraseError(ArchiveError):
    """Wrong passphrase for this archive: nothing was changed. {detail}"""

    exit_code = 6
    http_status = 403


class LockedError(ArchiveError):
    """The archive is busy ({detail}): another witnessbox process holds its lock; try again."""

    exit_code = 7
    http_status = 409


class LockLostError(LockedError):
    """The archive's writer lock was lost ({detail}): nothing more was committed; run the command again."""


class IntegrityError(WitnessboxError):
    """INTEGRITY FAILURE: {detail}"""

    exit_code = 10
    http_status = 500


class RedactionError(WitnessboxError):
    """Redaction failed, nothing was written: {detail}"""

    exit_code = 11
    http_status = 422


class PublishError(WitnessboxError):
    """Publishing stopped, nothing was published: {detail}"""

    exit_code = 12
    http_status = 422


class ExportError(WitnessboxError):
    """Export failed, nothing was written: {detail}"""

    exit_code = 13
    http_status = 422


class PassphraseRequiredError(PassphraseError):
    """This needs the archive passphrase: set WITNESSBOX_PASSPHRASE or run it in a terminal to be asked. {detail}"""


class ReviewError(WitnessboxError):
    """Review: {detail}"""

    exit_code = 17
    http_status = 409


class SizeLimitError(InputError):
    """Too large: {detail}"""

    http_status = 413


class RateLimitError(WitnessboxError):
    """Too many attempts: {detail}"""

    exit_code = 16
    http_status = 429


class SignInError(WitnessboxError):
    """The name, passphrase or code is wrong (or the account is disabled). {detail}"""

    exit_code = 14
    http_status = 401


class AccountLockedError(SignInError):
    """Too many failed sign-ins: this account is locked until {detail} (UTC) or until an admin unlocks it."""

    http_status = 423


class NotSignedInError(WitnessboxError):
    """Please sign in. {detail}"""

    exit_code = 14
    http_status = 401


class AccessDeniedError(WitnessboxError):
    """You are not allowed to do this. {detail}"""

    exit_code = 15
    http_status = 403


class CsrfError(AccessDeniedError):
    """The form is stale or came from another site: reload the page and try again. {detail}"""


class RateLimitedError(RateLimitError):
    """Too many attempts: wait {detail} seconds and try again."""


class DropBoxError(WitnessboxError):
    """Drop box submission refused, nothing was imported: {detail}"""

    exit_code = 18
    http_status = 422


class WeakPassphraseError(InputError):
    """The passphrase is too weak: {detail}"""
class CatalogDamagedError(ArchiveError):
    """catalog damaged: run `witnessbox reindex` (it rebuilds catalog.sqlite from the custody log; {detail})"""


class ReadOnlyArchiveError(ArchiveError):
    """The archive at {detail} is read-only: this command writes to it. Reading commands (list, show, log, verify, extract) work as they are; copy the archive to a writable place to change it."""


class PartialRedactionError(RedactionError):
    """Redaction failed for some files; the others were written: {detail}"""


class WriteError(ArchiveError):
    """{detail}"""
    # An ArchiveError for the callers that roll back on one, without the "Archive problem"
    # prefix: the destination is often a user's folder (an export, an extract), not the archive.
