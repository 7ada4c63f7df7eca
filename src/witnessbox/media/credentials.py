"""Content credentials (C2PA) on redacted copies, signed offline with the archive's own chain.

A redacted copy meant for publication carries an embedded C2PA manifest that says: this
file was opened from an original whose SHA-256 is H, then redacted by witnessbox with
method M. Readers (c2patool, the c2pa libraries, Content Credentials viewers) show where
the copy came from and what was done to it.

Privacy invariant: the manifest never carries the original's pixels, thumbnail, metadata
or file name: the ingredient is declared from JSON only (title, format and its SHA-256 as
``instance_id``), never from the original's stream. The copy's own metadata is whatever
the redaction step left (it strips everything before this runs).

The chain (C2PA refuses a self-signed signing certificate): a small CA and one leaf, both
ECDSA P-256, made once per archive and kept in the archive's ``keys/`` folder:

- ``c2pa-ca.cert.pem``: the CA certificate (public; put it in a reader's trust list to see
  the copies as "Trusted" instead of "Valid"). The CA's private key is discarded right
  after it signs the leaf: nothing else is ever issued, so nothing can be mis-issued.
- ``c2pa-signer.cert.pem``: the leaf (digitalSignature, emailProtection EKU), valid 10 years.
- ``c2pa-signer.key.pem``: the leaf's PKCS#8 key, encrypted with a password derived from the
  archive passphrase by scrypt (same cost as the archive signing key, salt in
  ``c2pa-signer.kdf.json``), so it offers no faster way to guess the passphrase.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .. import __version__
from .._fsutil import atomic_write, atomic_write_bytes
from ..errors import ArchiveError, InputError, PassphraseError, UnsupportedMediaError

CA_CERT = "c2pa-ca.cert.pem"
SIGNER_CERT = "c2pa-signer.cert.pem"
SIGNER_KEY = "c2pa-signer.key.pem"
SIGNER_KDF = "c2pa-signer.kdf.json"

REDACTED_ACTION = "org.witnessbox.redacted"
ORIGINAL_ASSERTION = "org.witnessbox.original"
SUPPORTED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4", "image/webp": "webp"}

_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_LEAF_YEARS = 10


@dataclass(frozen=True)
class CredentialChain:
    """The public half of an archive's C2PA chain."""

    ca_pem: bytes
    signer_pem: bytes
    not_after: str  # the leaf's expiry, ISO 8601 UTC


@dataclass(frozen=True)
class ContentCredentials:
    """What a C2PA reader finds in a file (the active manifest only)."""

    validation_state: str  # "Invalid" | "Valid" | "Trusted"
    failures: tuple[str, ...]  # validation failure codes, e.g. "signingCredential.untrusted"
    actions: tuple[str, ...]  # e.g. ("c2pa.opened", "org.witnessbox.redacted")
    method: str | None
    parent_sha256: str | None
    ingredient_titles: tuple[str, ...]
    signer_common_name: str | None
    claim_generator: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _kdf_password(passphrase: str, salt_hex: str, n: int, r: int, p: int) -> bytes:
    key = hashlib.scrypt(passphrase.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)
    return key.hex().encode("ascii")


def has_chain(keys_dir: Path) -> bool:
    """Whether ``keys_dir`` holds a complete C2PA chain."""
    return all((Path(keys_dir) / n).is_file() for n in (CA_CERT, SIGNER_CERT, SIGNER_KEY, SIGNER_KDF))


def create_chain(keys_dir: Path, passphrase: str, *, name: str = "witnessbox archive") -> CredentialChain:
    """Make the CA and the leaf and store them in ``keys_dir``.

    Args:
        keys_dir: The archive's ``keys/`` folder (must exist).
        passphrase: The archive passphrase; protects the leaf key.
        name: Organization name in the certificates (an archive label, never a person).

    Raises:
        ArchiveError: A chain already exists, or the files cannot be written.
    """
    keys_dir = Path(keys_dir)
    if any((keys_dir / n).exists() for n in (CA_CERT, SIGNER_CERT, SIGNER_KEY, SIGNER_KDF)):
        raise ArchiveError(f"a content-credentials chain already exists in {keys_dir}")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name} content credentials CA")]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * _LEAF_YEARS + 30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    not_after = now + dt.timedelta(days=365 * _LEAF_YEARS)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.COMMON_NAME, f"{name} redaction signer")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    del ca_key  # never stored: the CA signs this one leaf and nothing else
    kdf = {"alg": "scrypt", "salt": os.urandom(16).hex(), **_SCRYPT}
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(_kdf_password(passphrase, str(kdf["salt"]), _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"])),
    )
    pem = serialization.Encoding.PEM
    # Key before certificates: has_chain() is true only once every file is there.
    atomic_write_bytes(keys_dir / SIGNER_KDF, json.dumps(kdf, sort_keys=True).encode("utf-8"), file_mode=0o444)
    atomic_write_bytes(keys_dir / SIGNER_KEY, key_pem, file_mode=0o400)
    atomic_write_bytes(keys_dir / CA_CERT, ca.public_bytes(pem), file_mode=0o444)
    atomic_write_bytes(keys_dir / SIGNER_CERT, leaf.public_bytes(pem), file_mode=0o444)
    return CredentialChain(ca.public_bytes(pem), leaf.public_bytes(pem), not_after.isoformat())


def load_chain(keys_dir: Path) -> CredentialChain:
    """The public certificates of the archive's chain.

    Raises:
        ArchiveError: No chain, or unreadable.
    """
    keys_dir = Path(keys_dir)
    try:
        ca, leaf = (keys_dir / CA_CERT).read_bytes(), (keys_dir / SIGNER_CERT).read_bytes()
        cert = x509.load_pem_x509_certificate(leaf)
    except (OSError, ValueError) as e:
        raise ArchiveError(f"no usable content-credentials chain in {keys_dir}") from e
    return CredentialChain(ca, leaf, cert.not_valid_after_utc.isoformat())


def _load_signer_key(keys_dir: Path, passphrase: str) -> bytes:
    try:
        kdf = json.loads((keys_dir / SIGNER_KDF).read_text("utf-8"))
        enc = (keys_dir / SIGNER_KEY).read_bytes()
    except (OSError, ValueError) as e:
        raise ArchiveError(f"no usable content-credentials key in {keys_dir}") from e
    try:
        key = serialization.load_pem_private_key(enc, password=_kdf_password(passphrase, kdf["salt"], kdf["n"], kdf["r"], kdf["p"]))
    except (ValueError, TypeError) as e:
        raise PassphraseError() from e
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _manifest(parent_sha256: str, media_type: str, method: str, description: str | None) -> dict[str, Any]:
    ingredient_id = f"sha256:{parent_sha256}"
    params: dict[str, Any] = {"method": method}
    if description:
        params["description"] = description
    return {
        "claim_generator_info": [{"name": "witnessbox", "version": __version__}],
        "title": f"redacted copy of sha256:{parent_sha256[:16]}",
        "format": media_type,
        # Declared, not read from the original: no pixels, thumbnail, metadata or name.
        "ingredients": [
            {
                "title": f"original sha256:{parent_sha256}",
                "format": "application/octet-stream",
                "instance_id": ingredient_id,
                "relationship": "parentOf",
                "description": f"sha256:{parent_sha256}",
            }
        ],
        "assertions": [
            {"label": ORIGINAL_ASSERTION, "data": {"sha256": parent_sha256}},
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": [ingredient_id]}},
                        {
                            "action": REDACTED_ACTION,
                            "softwareAgent": {"name": "witnessbox", "version": __version__},
                            "description": "redacted: " + (description or method),
                            "parameters": params,
                        },
                    ]
                },
            },
        ],
    }


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as e:  # pragma: no cover - c2pa-python is a declared dependency
        raise UnsupportedMediaError("content credentials need c2pa-python: pip install c2pa-python") from e
    return c2pa


def _settings(trust_anchor_pem: bytes | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}, "verify": {"ocsp_fetch": False}}
    if trust_anchor_pem:
        s["trust"] = {"trust_anchors": trust_anchor_pem.decode("ascii")}
        s["verify"]["verify_trust"] = True
    return s


def _check_args(media_type: str, parent_sha256: str) -> None:
    if media_type not in SUPPORTED_TYPES:
        raise UnsupportedMediaError(f"content credentials cannot be embedded in {media_type}; supported: {', '.join(sorted(SUPPORTED_TYPES))}")
    if len(parent_sha256) != 64 or any(c not in "0123456789abcdef" for c in parent_sha256):
        raise InputError(f"{parent_sha256!r} is not a lower-case SHA-256 hex digest")


def _sign_stream(src: IO[bytes], dst: IO[bytes], media_type: str, *, keys_dir: Path, passphrase: str,
                 parent_sha256: str, method: str, description: str | None = None) -> None:
    _check_args(media_type, parent_sha256)
    keys_dir = Path(keys_dir)
    chain = load_chain(keys_dir)
    key_pem = _load_signer_key(keys_dir, passphrase)
    c2pa = _c2pa()
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.signer_pem + chain.ca_pem, key_pem, None))
        ctx = c2pa.Context.from_dict(_settings())
        builder = c2pa.Builder(_manifest(parent_sha256, media_type, method, description), ctx)
        with builder, signer:
            builder.sign(signer, media_type, src, dst)
    except c2pa.C2paError as e:
        raise ArchiveError(f"could not sign content credentials: {e}") from e


def sign_redacted(
    data: bytes,
    media_type: str,
    *,
    keys_dir: Path,
    passphrase: str,
    parent_sha256: str,
    method: str,
    description: str | None = None,
) -> bytes:
    """Embed a signed C2PA manifest in a redacted copy and return the new file's bytes.

    Args:
        data: The redacted file (already stripped of metadata).
        media_type: One of :data:`SUPPORTED_TYPES`.
        keys_dir: The archive's ``keys/`` folder holding the chain (:func:`create_chain`).
        passphrase: The archive passphrase (unlocks the leaf key).
        parent_sha256: The original's SHA-256 (hex): the only thing said about it.
        method: How it was redacted (e.g. ``"pixelate"``).
        description: One line for readers (e.g. ``"12 faces hidden"``); never personal data.

    Raises:
        UnsupportedMediaError: C2PA cannot be embedded in this media type.
        InputError: ``parent_sha256`` is not a SHA-256 hex digest.
        PassphraseError: Wrong passphrase.
        ArchiveError: No chain, or the C2PA library refused to sign.
    """
    out = io.BytesIO()
    _sign_stream(io.BytesIO(data), out, media_type, keys_dir=keys_dir, passphrase=passphrase,
                 parent_sha256=parent_sha256, method=method, description=description)
    return out.getvalue()


def sign_redacted_file(src: Path, dst: Path, media_type: str, **kw: Any) -> Path:
    """:func:`sign_redacted` from file ``src`` to a new file ``dst`` (streamed: fit for
    videos), written atomically: ``dst`` is complete or absent.

    Raises:
        Same as :func:`sign_redacted`.
    """
    with open(src, "rb") as f, atomic_write(Path(dst), "wb") as out:
        _sign_stream(f, out, media_type, **kw)
    return Path(dst)


def read_credentials(data: bytes, media_type: str, *, trust_anchor_pem: bytes | None = None) -> ContentCredentials | None:
    """Read and validate the C2PA manifest embedded in ``data``.

    Args:
        data: The file's bytes.
        media_type: Its MIME type.
        trust_anchor_pem: CA certificate(s) to trust (e.g. the archive's ``c2pa-ca.cert.pem``);
            without it a good signature reads as ``"Valid"``, with it as ``"Trusted"``.

    Returns:
        What the reader found, or None when the file carries no manifest.

    Raises:
        UnsupportedMediaError: The C2PA library cannot read this media type.
    """
    c2pa = _c2pa()
    try:
        ctx = c2pa.Context.from_dict(_settings(trust_anchor_pem))
        with c2pa.Reader(media_type, io.BytesIO(data), context=ctx) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in str(e) or "not found" in str(e).lower():
            return None
        if "NotSupported" in type(e).__name__:
            raise UnsupportedMediaError(f"cannot read content credentials in {media_type}") from e
        return ContentCredentials("Invalid", (str(e),), (), None, None, (), None, None, {})
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    actions: list[dict[str, Any]] = []
    parent = None
    for a in active.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            actions.extend(a.get("data", {}).get("actions", []))
        if a.get("label") == ORIGINAL_ASSERTION:
            parent = a.get("data", {}).get("sha256")
    method = next((a.get("parameters", {}).get("method") for a in actions if a.get("action") == REDACTED_ACTION), None)
    failures = tuple(
        str(s.get("code")) for s in store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    )
    gen = active.get("claim_generator_info") or [{}]
    return ContentCredentials(
        validation_state=str(store.get("validation_state", "Invalid")),
        failures=failures,
        actions=tuple(str(a.get("action")) for a in actions),
        method=method,
        parent_sha256=parent,
        ingredient_titles=tuple(str(i.get("title")) for i in active.get("ingredients", [])),
        signer_common_name=active.get("signature_info", {}).get("common_name"),
        claim_generator=gen[0].get("name"),
        raw=store,
    )
