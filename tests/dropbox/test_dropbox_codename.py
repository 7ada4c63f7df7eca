"""Codenames: the word list, their strength, and the keys derived from them."""

from __future__ import annotations

import math

import pyrage
import pytest

from witnessbox.dropbox import codename as cn

CHEAP = cn.KdfParams(time_cost=1, memory_kib=8192, parallelism=1)
SALT = b"0123456789abcdef"


def test_wordlist_is_the_eff_long_list_and_codenames_carry_90_bits() -> None:
    words = cn.wordlist()
    assert len(words) == 7776 and len(set(words)) == 7776
    assert cn.WORDS * math.log2(len(words)) >= 90
    code = cn.generate()
    assert len(code.split()) == cn.WORDS and all(w in words for w in code.split())
    assert len({cn.generate() for _ in range(50)}) == 50


@pytest.mark.parametrize("text,expected", [
    ("  Abacus  abdomen abdominal abide abiding ability ablaze ", "abacus abdomen abdominal abide abiding ability ablaze"),
    ("abacus abdomen abdominal abide abiding ability", None),            # six words
    ("abacus abdomen abdominal abide abiding ability zzzzq", None),      # not a list word
    ("", None),
])
def test_normalize(text: str, expected: str | None) -> None:
    assert cn.normalize(text) == expected


def test_derived_keys_are_deterministic_and_form_an_age_pair() -> None:
    code = cn.generate()
    a, b = cn.derive(code, SALT, CHEAP), cn.derive(code, SALT, CHEAP)
    assert a == b and len(a.lookup) == 32
    other = cn.derive(code, b"another salt 123", CHEAP)
    assert other.lookup != a.lookup and other.recipient != a.recipient
    assert code not in a.identity.lower() and code.split()[0] not in a.lookup
    identity = pyrage.x25519.Identity.from_str(a.identity)
    assert str(identity.to_public()) == a.recipient
    blob = pyrage.encrypt(b"reply", [pyrage.x25519.Recipient.from_str(a.recipient)])
    assert pyrage.decrypt(blob, [identity]) == b"reply"


def test_kdf_description_round_trips_and_rejects_nonsense() -> None:
    p = cn.KdfParams()
    assert cn.KdfParams.from_json(p.to_json()) == p
    from witnessbox.errors import InputError

    for bad in ({"name": "scrypt"}, {"name": "argon2id", "time_cost": 0, "memory_kib": 65536, "parallelism": 1}, {}):
        with pytest.raises(InputError):
            cn.KdfParams.from_json(bad)
