"""The drop box: anonymous submissions, encrypted on arrival to the archive (issue 15).

This package needs no archive: the public server (``witnessbox.web.dropbox``) uses it with only
the archive's public age recipient. The archive side (``ws.dropbox``) reads the same inbox with
the archive key. Formats: ``docs/dropbox.md``.
"""

from .codename import KdfParams, SourceKeys, generate, normalize
from .inbox import (
    FileEntry,
    FileSink,
    Inbox,
    Limits,
    Manifest,
    OpenedSubmission,
    Reply,
    Statement,
    Submission,
    SubmissionState,
)
from .ratelimit import RateLimiter

__all__ = [
    "FileEntry", "FileSink", "Inbox", "KdfParams", "Limits", "Manifest", "OpenedSubmission", "RateLimiter", "Reply",
    "SourceKeys", "Statement", "Submission", "SubmissionState", "generate", "normalize",
]
