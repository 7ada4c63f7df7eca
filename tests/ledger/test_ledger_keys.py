"""The archive's age identity: unlocking it, and age's load-sensitive scrypt refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pyrage
import pytest

from witnessbox.errors import ArchiveError, PassphraseError
from witnessbox.ledger import keys

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    keys.create_keys(folder, PASS, encrypted=True)
    return folder


def test_the_identity_unlocks_with_the_passphrase_and_matches_the_recipient(made: Path) -> None:
    ident = keys.unlock_age_identity(made, PASS)
    assert str(ident.to_public()) == str(keys.load_recipient(made))


def test_a_wrong_passphrase_is_a_passphrase_error(made: Path) -> None:
    with pytest.raises(PassphraseError):
        keys.unlock_age_identity(made, "not the passphrase")


def test_a_file_whose_scrypt_cost_age_refuses_is_an_archive_error_after_the_retries(
        made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same file with a work factor of 2**40: age refuses it before running any scrypt.
    data = (made / keys.AGE_KEY).read_bytes()
    heavy, n = re.subn(rb"^(-> scrypt \S+) \d+$", rb"\1 40", data, count=1, flags=re.M)
    assert n == 1
    folder = tmp_path / "heavy"
    folder.mkdir()
    (folder / keys.AGE_KEY).write_bytes(heavy)
    monkeypatch.setattr(keys, "_EXCESSIVE_WORK_PAUSE_S", 0.0)
    calls = []
    real = pyrage.passphrase.decrypt
    monkeypatch.setattr(pyrage.passphrase, "decrypt", lambda d, p: calls.append(1) or real(d, p))
    with pytest.raises(ArchiveError, match="scrypt cost too high"):
        keys.unlock_age_identity(folder, PASS)
    assert len(calls) == keys._EXCESSIVE_WORK_TRIES


def test_a_passing_refusal_is_retried_and_the_identity_unlocks(made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # age's estimate of this machine's speed comes from timing a one-millisecond scrypt; under
    # load it can refuse a file made here moments ago. Two such refusals, then age's own answer.
    real = pyrage.passphrase.decrypt
    refusals = [pyrage.DecryptError("Excessive work parameter for passphrase.")] * 2

    def flaky(data: bytes, passphrase: str) -> bytes:
        if refusals:
            raise refusals.pop()
        return real(data, passphrase)

    monkeypatch.setattr(keys, "_EXCESSIVE_WORK_PAUSE_S", 0.0)
    monkeypatch.setattr(pyrage.passphrase, "decrypt", flaky)
    ident = keys.unlock_age_identity(made, PASS)
    assert not refusals
    assert str(ident.to_public()) == str(keys.load_recipient(made))
