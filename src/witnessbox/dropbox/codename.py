"""Codenames: the only thing a source keeps, and the keys derived from it.

A codename is seven words drawn with :mod:`secrets` from the EFF long word list (7776 words,
shipped by the ``diceware`` package): 7 x log2(7776) = 90.5 bits. The inbox never stores a
codename. One Argon2id call (memory-hard, with the inbox's salt) turns it into 64 bytes:

* bytes 0-15: the *lookup id* (hex), the name of the source's folder in the inbox; a slow
  hash, so a seized inbox cannot be searched for codenames faster than Argon2id allows;
* bytes 32-63: an X25519 secret, the source's age identity for replies. Only its public half
  (an ``age1...`` recipient) is stored; the archive encrypts replies to it and only someone who
  knows the codename can decrypt them.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..errors import InputError

WORDS = 7
WORDLIST_SIZE = 7776
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost (RFC 9106's second recommended option: 64 MiB, 3 passes, one lane)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"name": "argon2id", "time_cost": self.time_cost, "memory_kib": self.memory_kib,
                "parallelism": self.parallelism}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KdfParams:
        """Raises: InputError: not an Argon2id description with sane costs."""
        try:
            if d["name"] != "argon2id":
                raise InputError(f"unknown codename KDF {d['name']!r}")
            p = cls(int(d["time_cost"]), int(d["memory_kib"]), int(d["parallelism"]))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"bad codename KDF description: {e}") from e
        if p.time_cost < 1 or p.memory_kib < 8 * p.parallelism or p.parallelism < 1:
            raise InputError("codename KDF costs are out of range")
        return p


@dataclass(frozen=True)
class SourceKeys:
    """What a codename unlocks. ``identity`` is secret and lives only in memory."""

    lookup: str
    identity: str
    recipient: str


@functools.cache
def wordlist() -> tuple[str, ...]:
    """The EFF long word list as the ``diceware`` package ships it (7776 distinct words)."""
    text = resources.files("diceware").joinpath("wordlists", "wordlist_en_eff.txt").read_text("utf-8")
    words = tuple(w.split()[-1] for w in text.splitlines() if w.strip())
    if len(words) != WORDLIST_SIZE or len(set(words)) != WORDLIST_SIZE:
        raise RuntimeError("the diceware package's EFF word list is not the expected 7776 words")
    return words


@functools.cache
def _wordset() -> frozenset[str]:
    return frozenset(wordlist())


def generate(words: int = WORDS) -> str:
    """A fresh random codename of ``words`` words separated by single spaces."""
    wl = wordlist()
    return " ".join(secrets.choice(wl) for _ in range(words))


def normalize(codename: str) -> str | None:
    """The canonical form (lowercase, single spaces), or None when it cannot be a codename.

    Only the shape is checked (at least :data:`WORDS` words, each in the list); whether a
    source with that codename exists is for the inbox to say, after the slow hash.
    """
    words = codename.lower().split()
    if len(words) < WORDS or len(words) > 20 or any(w not in _wordset() for w in words):
        return None
    return " ".join(words)


def _bech32(hrp: str, data: bytes) -> str:
    def polymod(values: list[int]) -> int:
        gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
        chk = 1
        for v in values:
            b = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (b >> i) & 1 else 0
        return chk

    acc, bits, values = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            values.append((acc >> bits) & 31)
    if bits:
        values.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(expanded + values + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[v] for v in values + checksum)


def x25519_pair(secret: bytes) -> tuple[str, str]:
    """The age identity (``AGE-SECRET-KEY-1...``) and recipient (``age1...``) of a 32-byte secret."""
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    return _bech32("age-secret-key-", secret).upper(), _bech32("age", public)


def derive(codename: str, salt: bytes, params: KdfParams) -> SourceKeys:
    """Run the slow hash once and split it into the lookup id and the reply key pair.

    Args:
        codename: Already normalized (see :func:`normalize`).
        salt: The inbox's random salt (16 bytes or more).
        params: The inbox's Argon2id costs.
    """
    out = hash_secret_raw(codename.encode("utf-8"), salt, time_cost=params.time_cost,
                          memory_cost=params.memory_kib, parallelism=params.parallelism,
                          hash_len=64, type=Type.ID)
    identity, recipient = x25519_pair(out[32:64])
    return SourceKeys(lookup=out[:16].hex(), identity=identity, recipient=recipient)
