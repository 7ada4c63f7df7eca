"""RFC 3161 trusted timestamps over a checkpoint (client side, rfc3161-client).

A timestamp authority (TSA) signs "these SHA-256 bytes existed at time T". witnessbox asks
for one over the exact bytes of the signed checkpoint it puts in an evidence package, so a
court can show that the custody log had reached that state no later than T, independently
of the archive's own clock. The response (DER ``TimeStampResp``) is stored beside the
checkpoint and checks with ``openssl ts -verify`` given the TSA's root certificate.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass

import rfc3161_client
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import ExportError

_TIMEOUT_S = 30


@dataclass(frozen=True)
class Timestamp:
    """A granted RFC 3161 timestamp over some bytes."""

    response_der: bytes  # the TSA's TimeStampResp as received
    gen_time: str  # ISO 8601 UTC
    certificates_pem: bytes  # certificates the TSA sent (may be empty)


def request_timestamp(url: str, data: bytes, *, timeout_s: float = _TIMEOUT_S) -> Timestamp:
    """Ask the TSA at ``url`` to timestamp SHA-256(``data``) and check its answer.

    The answer must be granted, carry our nonce and imprint. Its signature chain is checked
    later, against a root the verifier chooses (:func:`verify_timestamp`).

    Raises:
        ExportError: The TSA cannot be reached or its answer does not match the request.
    """
    req = rfc3161_client.TimestampRequestBuilder(
        data=data, hash_algorithm=rfc3161_client.HashAlgorithm.SHA256, nonce=True, cert_req=True
    ).build()
    http = urllib.request.Request(url, data=req.as_bytes(), headers={"Content-Type": "application/timestamp-query"})
    try:
        with urllib.request.urlopen(http, timeout=timeout_s) as resp:  # noqa: S310 (the user names the TSA)
            body = resp.read()
    except (urllib.error.URLError, OSError) as e:
        raise ExportError(f"the timestamp authority {url} did not answer ({e}); retry or export without --tsa") from e
    try:
        tsr = rfc3161_client.decode_timestamp_response(body)
    except ValueError as e:
        raise ExportError(f"the timestamp authority {url} sent something that is not an RFC 3161 response") from e
    if rfc3161_client.PKIStatus(tsr.status) not in (rfc3161_client.PKIStatus.GRANTED, rfc3161_client.PKIStatus.GRANTED_WITH_MODS):
        raise ExportError(f"the timestamp authority {url} refused: {' '.join(tsr.status_string) or tsr.status}")
    info = tsr.tst_info
    if info.message_imprint.message != hashlib.sha256(data).digest():
        raise ExportError(f"the timestamp authority {url} timestamped other bytes than the checkpoint")
    if req.nonce is not None and info.nonce != req.nonce:
        raise ExportError(f"the timestamp authority {url} answered with another request's nonce")
    certs = b"".join(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for der in sorted(tsr.signed_data.certificates)
    )
    return Timestamp(response_der=body, gen_time=info.gen_time.isoformat(), certificates_pem=certs)


def verify_timestamp(response_der: bytes, data: bytes, root_pem: bytes) -> str:
    """Check a stored timestamp response over ``data`` against a TSA root certificate.

    Returns:
        The timestamp's time (ISO 8601 UTC).

    Raises:
        ExportError: The response is malformed, not over ``data``, or not signed by a
            certificate chaining to ``root_pem``.
    """
    try:
        tsr = rfc3161_client.decode_timestamp_response(response_der)
        roots = x509.load_pem_x509_certificates(root_pem)
        builder = rfc3161_client.VerifierBuilder()
        for r in roots:
            builder = builder.add_root_certificate(r)
        builder.build().verify_message(tsr, data)
    except (ValueError, rfc3161_client.VerificationError) as e:
        raise ExportError(f"the trusted timestamp does not verify: {e}") from e
    return tsr.tst_info.gen_time.isoformat()
