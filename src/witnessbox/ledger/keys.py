"""The archive's keys: Ed25519 signing key and age (X25519) identity, passphrase-protected.

- ``keys/archive-signing.pub.pem``: PEM SubjectPublicKeyInfo (what verifiers need).
- ``keys/archive-signing.key.pem``: PKCS#8 PEM encrypted (``BestAvailableEncryption``) with a
  password derived from the passphrase by scrypt (salt and cost in the archive header), so a
  stolen archive cannot be brute-forced faster through the PEM than through the age identity.
- ``keys/archive-age.pub``: the age recipient (``age1...``), used to encrypt without a secret.
- ``keys/archive-age.key.age``: the age identity, encrypted with the passphrase itself by
  age's scrypt recipient (``age -d`` with the passphrase recovers it).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._fsutil import atomic_write_bytes
from ..errors import ArchiveError, PassphraseError

SIGNING_PUB = "archive-signing.pub.pem"
SIGNING_KEY = "archive-signing.key.pem"
AGE_PUB = "archive-age.pub"
AGE_KEY = "archive-age.key.age"

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


@dataclass(frozen=True)
class Kdf:
    """scrypt parameters for the signing key's PEM password."""

    salt: str
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    def derive(self, passphrase: str) -> bytes:
        key = hashlib.scrypt(
            passphrase.encode("utf-8"),
            salt=bytes.fromhex(self.salt),
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=256 * 1024 * 1024,
            dklen=32,
        )
        return key.hex().encode("ascii")

    def to_json(self) -> dict[str, object]:
        return {"alg": "scrypt", "salt": self.salt, "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Kdf:
        return cls(salt=str(d["salt"]), n=int(str(d["n"])), r=int(str(d["r"])), p=int(str(d["p"])))


@dataclass(frozen=True)
class CreatedKeys:
    """What :func:`create_keys` made: public parts and the unlocked signing key."""

    public_pem: bytes
    age_recipient: str | None
    kdf: Kdf
    signing_key: Ed25519PrivateKey


def create_keys(keys_dir: Path, passphrase: str, *, encrypted: bool) -> CreatedKeys:
    """Generate and store the archive's keys under ``keys_dir`` (which must exist).

    Raises:
        ArchiveError: The keys cannot be written.
    """
    kdf = Kdf(salt=os.urandom(16).hex())
    sk = Ed25519PrivateKey.generate()
    pub = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = sk.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(kdf.derive(passphrase)),
    )
    atomic_write_bytes(keys_dir / SIGNING_KEY, pem, file_mode=0o400)
    atomic_write_bytes(keys_dir / SIGNING_PUB, pub, file_mode=0o444)
    recipient: str | None = None
    if encrypted:
        ident = pyrage.x25519.Identity.generate()
        recipient = str(ident.to_public())
        atomic_write_bytes(keys_dir / AGE_KEY, pyrage.passphrase.encrypt(str(ident).encode("ascii"), passphrase), file_mode=0o400)
        atomic_write_bytes(keys_dir / AGE_PUB, (recipient + "\n").encode("ascii"), file_mode=0o444)
    return CreatedKeys(public_pem=pub, age_recipient=recipient, kdf=kdf, signing_key=sk)


def unlock_signing_key(keys_dir: Path, passphrase: str, kdf: Kdf) -> Ed25519PrivateKey:
    """Decrypt the signing key.

    Raises:
        PassphraseError: Wrong passphrase.
        ArchiveError: The key file is missing or not an Ed25519 key.
    """
    try:
        pem = (keys_dir / SIGNING_KEY).read_bytes()
    except OSError as e:
        raise ArchiveError(f"cannot read the signing key {keys_dir / SIGNING_KEY}: {e.strerror}") from e
    try:
        sk = serialization.load_pem_private_key(pem, password=kdf.derive(passphrase))
    except (ValueError, TypeError) as e:
        raise PassphraseError() from e
    if not isinstance(sk, Ed25519PrivateKey):
        raise ArchiveError("the signing key is not an Ed25519 key")
    return sk


def unlock_age_identity(keys_dir: Path, passphrase: str) -> pyrage.x25519.Identity:
    """Decrypt the age identity (slow by design: age's scrypt).

    Raises:
        PassphraseError: Wrong passphrase.
        ArchiveError: The identity file is missing or damaged.
    """
    try:
        data = (keys_dir / AGE_KEY).read_bytes()
    except OSError as e:
        raise ArchiveError(f"cannot read the age identity {keys_dir / AGE_KEY}: {e.strerror}") from e
    text = _decrypt_passphrase_file(data, passphrase)
    try:
        return pyrage.x25519.Identity.from_str(text.decode("ascii").strip())
    except (pyrage.IdentityError, UnicodeDecodeError) as e:
        raise ArchiveError("the age identity file is damaged") from e


# age refuses a file whose scrypt cost exceeds 16x what it measures this machine doing in one
# second, and it measures that by timing one tiny scrypt (about a millisecond): on a loaded
# machine a single preemption can cut the estimate 10x and refuse a file made here a minute
# ago. The refusal costs nothing (no scrypt runs), so it is retried over about three seconds.
_EXCESSIVE_WORK_TRIES = 12
_EXCESSIVE_WORK_PAUSE_S = 0.25


def _decrypt_passphrase_file(data: bytes, passphrase: str) -> bytes:
    """``pyrage.passphrase.decrypt``, retrying age's load-sensitive work-factor refusal.

    Raises:
        PassphraseError: Wrong passphrase.
        ArchiveError: age still refuses the file's scrypt cost after every try (the machine is
            far slower or busier than the one that made it).
    """
    for attempt in range(_EXCESSIVE_WORK_TRIES):
        try:
            plain: bytes = pyrage.passphrase.decrypt(data, passphrase)
            return plain
        except pyrage.DecryptError as e:
            if "excessive work" not in str(e).lower():
                raise PassphraseError() from e
            if attempt == _EXCESSIVE_WORK_TRIES - 1:
                raise ArchiveError("the age identity could not be unlocked: age judges its scrypt cost too high for "
                                   "this machine now (it is busy or much slower than the one that made the "
                                   "archive); try again when it is less busy") from e
            time.sleep(_EXCESSIVE_WORK_PAUSE_S)
    raise AssertionError("unreachable")


def load_recipient(keys_dir: Path) -> pyrage.x25519.Recipient:
    """The archive's age recipient (public; encrypting needs no passphrase).

    Raises:
        ArchiveError: Missing or damaged.
    """
    try:
        return pyrage.x25519.Recipient.from_str((keys_dir / AGE_PUB).read_text("ascii").strip())
    except (OSError, UnicodeDecodeError, pyrage.RecipientError) as e:
        raise ArchiveError(f"cannot read the age recipient {keys_dir / AGE_PUB}") from e
