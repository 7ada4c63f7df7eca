"""Content credentials (C2PA) on redacted copies: signed offline, read back, tamper shows."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from witnessbox.errors import ArchiveError, InputError, PassphraseError, UnsupportedMediaError
from witnessbox.media import credentials as cr

pytest.importorskip("c2pa")
PASS = "correct horse battery staple"
PARENT = hashlib.sha256(b"the original, never embedded").hexdigest()


def _image(fmt: str) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 20, 20)).save(b, fmt)
    return b.getvalue()


def _mp4() -> bytes:
    import av

    b = io.BytesIO()
    with av.open(b, "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return b.getvalue()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    cr.create_chain(d, PASS)
    return d


@pytest.mark.parametrize("media_type, make", [("image/jpeg", lambda: _image("JPEG")), ("image/png", lambda: _image("PNG")), ("video/mp4", _mp4)])
def test_signed_copy_reads_back_with_provenance(keys: Path, media_type: str, make) -> None:  # type: ignore[no-untyped-def]
    signed = cr.sign_redacted(make(), media_type, keys_dir=keys, passphrase=PASS, parent_sha256=PARENT, method="pixelate", description="2 faces hidden")
    got = cr.read_credentials(signed, media_type)
    assert got is not None
    # Without the archive's CA in the trust list the signature is good but not trusted.
    assert got.validation_state == "Valid" and got.failures == ("signingCredential.untrusted",)
    assert got.actions == ("c2pa.opened", cr.REDACTED_ACTION)
    assert got.method == "pixelate" and got.parent_sha256 == PARENT
    assert got.claim_generator == "witnessbox"
    trusted = cr.read_credentials(signed, media_type, trust_anchor_pem=cr.load_chain(keys).ca_pem)
    assert trusted is not None and trusted.validation_state == "Trusted" and not trusted.failures


def test_manifest_says_nothing_of_the_original_but_its_hash(keys: Path) -> None:
    signed = cr.sign_redacted(_image("JPEG"), "image/jpeg", keys_dir=keys, passphrase=PASS, parent_sha256=PARENT, method="blur")
    got = cr.read_credentials(signed, "image/jpeg")
    assert got is not None
    active = got.raw["manifests"][got.raw["active_manifest"]]
    (ing,) = active["ingredients"]
    assert set(ing) <= {"title", "format", "instance_id", "relationship", "description", "label"}
    assert PARENT in ing["instance_id"] and "thumbnail" not in ing and "thumbnail" not in active


def test_changed_pixels_make_it_invalid(keys: Path) -> None:
    signed = bytearray(cr.sign_redacted(_image("PNG"), "image/png", keys_dir=keys, passphrase=PASS, parent_sha256=PARENT, method="solid"))
    signed[-20] ^= 0xFF  # inside the image data chunk, after the manifest
    got = cr.read_credentials(bytes(signed), "image/png")
    assert got is None or got.validation_state == "Invalid"


def test_unsigned_file_has_none(keys: Path) -> None:
    assert cr.read_credentials(_image("JPEG"), "image/jpeg") is None


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"passphrase": "wrong"}, PassphraseError),
        ({"parent_sha256": "ABC"}, InputError),
        ({"media_type": "image/gif"}, UnsupportedMediaError),
    ],
)
def test_bad_inputs(keys: Path, kwargs: dict[str, str], error: type[Exception]) -> None:
    args = {"passphrase": PASS, "parent_sha256": PARENT, "media_type": "image/jpeg"} | kwargs
    with pytest.raises(error):
        cr.sign_redacted(_image("JPEG"), args.pop("media_type"), keys_dir=keys, method="blur", **args)


def test_chain_is_made_once_and_the_ca_key_is_not_kept(tmp_path: Path) -> None:
    assert not cr.has_chain(tmp_path)
    chain = cr.create_chain(tmp_path, PASS)
    assert cr.has_chain(tmp_path)
    with pytest.raises(ArchiveError):
        cr.create_chain(tmp_path, PASS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([cr.CA_CERT, cr.SIGNER_CERT, cr.SIGNER_KEY, cr.SIGNER_KDF])
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / cr.SIGNER_KEY).read_bytes()
    assert chain.not_after > "2030"


def test_no_chain_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError):
        cr.sign_redacted(_image("JPEG"), "image/jpeg", keys_dir=tmp_path, passphrase=PASS, parent_sha256=PARENT, method="blur")


def test_file_to_file_is_streamed_and_atomic(keys: Path, tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(_mp4())
    dst = cr.sign_redacted_file(src, tmp_path / "signed.mp4", "video/mp4", keys_dir=keys, passphrase=PASS, parent_sha256=PARENT, method="blur")
    got = cr.read_credentials(dst.read_bytes(), "video/mp4")
    assert got is not None and got.validation_state == "Valid" and got.method == "blur"
    with pytest.raises(PassphraseError):
        cr.sign_redacted_file(src, tmp_path / "never.mp4", "video/mp4", keys_dir=keys, passphrase="bad", parent_sha256=PARENT, method="blur")
    assert not (tmp_path / "never.mp4").exists() and not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize("fmt, media_type", [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_signing_adds_no_exif_or_xmp(keys: Path, fmt: str, media_type: str) -> None:
    from PIL import Image

    signed = cr.sign_redacted(_image(fmt), media_type, keys_dir=keys, passphrase=PASS, parent_sha256=PARENT, method="blur")
    im = Image.open(io.BytesIO(signed))
    assert not dict(im.getexif())
    assert b"http://ns.adobe.com/xap/1.0/" not in signed and b"Exif\x00\x00" not in signed
