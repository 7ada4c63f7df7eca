"""Streaming age (v1, X25519 recipient) encryption in large chunks, for sealing throughput.

pyrage's ``encrypt_io`` pulls the plaintext through a Python callback 8 KiB at a time; this
writer takes 1 MiB buffers and seals them as 64 KiB STREAM chunks with one C call each. The
output is a standard age file (https://age-encryption.org/v1), decrypted by pyrage, ``age``
and ``rage`` alike; the tests decrypt it with pyrage for every chunk-boundary case.
"""

from __future__ import annotations

import base64
import hmac
import io
import os
from hashlib import sha256
from collections.abc import Callable
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CHUNK = 64 * 1024
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def _bech32_bytes(text: str, hrp: str, what: str) -> bytes:
    """The 32 bytes a bech32 string with human-readable part ``hrp`` carries (checksum checked)."""
    s = text.strip().lower()
    got, sep, data = s.rpartition("1")
    if got != hrp or not sep or any(c not in _BECH32 for c in data) or len(data) < 7:
        raise ValueError(f"not an age X25519 {what}")
    values = [_BECH32.index(c) for c in data]
    if _bech32_polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + values) != 1:
        raise ValueError(f"bad bech32 checksum in the age {what}")
    acc, bits, out = 0, 0, bytearray()
    for v in values[:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if len(out) != 32:
        raise ValueError(f"age {what} is not 32 bytes")
    return bytes(out)


def recipient_key(recipient: str) -> bytes:
    """The 32-byte X25519 public key of an ``age1...`` recipient (bech32, checksum checked).

    Raises:
        ValueError: Not a valid age X25519 recipient.
    """
    return _bech32_bytes(recipient, "age", "recipient")


def identity_key(identity: str) -> bytes:
    """The 32-byte X25519 secret of an ``AGE-SECRET-KEY-1...`` identity.

    Raises:
        ValueError: Not a valid age X25519 identity.
    """
    return _bech32_bytes(identity, "age-secret-key-", "identity")


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def header(recipient_pub: bytes, file_key: bytes) -> bytes:
    """The age v1 header wrapping ``file_key`` to one X25519 recipient."""
    eph = X25519PrivateKey.generate()
    share = eph.public_key().public_bytes_raw()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient_pub))
    if shared == bytes(32):
        raise ValueError("low-order age recipient")
    wrap = _hkdf(shared, share + recipient_pub, b"age-encryption.org/v1/X25519")
    body = ChaCha20Poly1305(wrap).encrypt(bytes(12), file_key, None)
    head = b"age-encryption.org/v1\n-> X25519 " + _b64(share) + b"\n" + _b64(body) + b"\n---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), head, sha256).digest()
    return head + b" " + _b64(mac) + b"\n"


class AgeWriter:
    """Encrypts what is written to it into ``out`` as an age v1 file; call :meth:`close`.

    Holds at most one partial 64 KiB chunk plus one full chunk (the last full chunk waits to
    learn whether it is the final one).
    """

    def __init__(self, out: IO[bytes], recipient: str) -> None:
        file_key = os.urandom(16)
        nonce = os.urandom(16)
        out.write(header(recipient_key(recipient), file_key) + nonce)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._out = out
        self._counter = 0
        self._pending = bytearray()
        self._closed = False

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> bytes:
        n = self._counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        self._counter += 1
        return self._aead.encrypt(n, bytes(chunk), None)

    def write(self, data: bytes | memoryview) -> int:
        """Encrypt ``data`` (any size); returns ``len(data)``."""
        self._pending += data
        # Keep more than one chunk pending: the final chunk must be sealed with the last flag.
        if len(self._pending) > CHUNK:
            n_full = (len(self._pending) - 1) // CHUNK
            view = memoryview(self._pending)
            parts = [self._seal(view[i * CHUNK : (i + 1) * CHUNK], False) for i in range(n_full)]
            view.release()
            del self._pending[: n_full * CHUNK]
            self._out.write(b"".join(parts))
        return len(data)

    def close(self) -> None:
        """Seal the final chunk (possibly empty, only for an empty plaintext)."""
        if not self._closed:
            self._out.write(self._seal(self._pending, True))
            self._pending = bytearray()
            self._closed = True


# -- reading, with a file key ---------------------------------------------------------------------
# Verification on a cluster (docs/scale-out.md): the process holding the archive identity opens
# each blob's header (:func:`unwrap_file_key`) and hands a worker that blob's 16-byte file key
# only; the worker decrypts and hashes the payload (:func:`decrypt_payload`). A file key opens
# one blob, never the archive identity's other blobs or metadata.

_MAX_HEADER_LINE = 1024
_MAX_STANZAS = 64


def _unb64(data: bytes) -> bytes:
    if data.endswith(b"=") or b"\n" in data:
        raise ValueError("padded or multi-line base64 in an age header")
    return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)


def _read_header(src: IO[bytes]) -> tuple[list[tuple[list[bytes], bytes]], bytes, bytes]:
    """Parse an age v1 header: its stanzas (arguments, body), the bytes its MAC covers, the MAC.

    Leaves ``src`` at the payload nonce.

    Raises:
        ValueError: Not an age v1 header.
    """
    def line() -> bytes:
        got = src.readline(_MAX_HEADER_LINE)
        if not got.endswith(b"\n"):
            raise ValueError("truncated age header")
        return got

    head = line()
    if head != b"age-encryption.org/v1\n":
        raise ValueError("not an age v1 file")
    stanzas: list[tuple[list[bytes], bytes]] = []
    while len(stanzas) <= _MAX_STANZAS:
        got = line()
        if got.startswith(b"--- "):
            return stanzas, head + b"---", _unb64(got[4:-1])
        if not got.startswith(b"-> "):
            raise ValueError("malformed age header")
        head += got
        body = b""
        while True:
            part = line()
            head += part
            body += _unb64(part[:-1])
            if len(part) - 1 < 64:
                break
        stanzas.append((got[3:-1].split(b" "), body))
    raise ValueError("too many stanzas in an age header")


def _check_mac(file_key: bytes, head: bytes, mac: bytes) -> None:
    want = hmac.new(_hkdf(file_key, b"", b"header"), head, sha256).digest()
    if not hmac.compare_digest(want, mac):
        raise ValueError("age header MAC does not match")


def unwrap_file_key(src: IO[bytes], identity_secret: bytes) -> bytes:
    """The file key of the age file ``src`` for the X25519 identity ``identity_secret``
    (the header MAC checked); reads the header only.

    Raises:
        ValueError: Not an age file, or none of its stanzas is for this identity.
    """
    stanzas, head, mac = _read_header(src)
    sk = X25519PrivateKey.from_private_bytes(identity_secret)
    pub = sk.public_key().public_bytes_raw()
    for args, body in stanzas:
        if len(args) != 2 or args[0] != b"X25519" or len(body) != 32:
            continue
        share = _unb64(args[1])
        if len(share) != 32:
            continue
        shared = sk.exchange(X25519PublicKey.from_public_bytes(share))
        wrap = _hkdf(shared, share + pub, b"age-encryption.org/v1/X25519")
        try:
            file_key = ChaCha20Poly1305(wrap).decrypt(bytes(12), body, None)
        except InvalidTag:
            continue
        _check_mac(file_key, head, mac)
        return file_key
    raise ValueError("no age stanza for this identity")


def decrypt_payload(src: IO[bytes], file_key: bytes, write: Callable[[bytes], object]) -> None:
    """Decrypt the age file ``src`` with its ``file_key`` into ``write`` (header MAC, every
    chunk's tag and the final-chunk flag checked: a changed byte anywhere raises).

    Raises:
        ValueError: Damaged, truncated or extended ciphertext, or another file's key.
        OSError: Reading failed.
    """
    _, head, mac = _read_header(src)
    _check_mac(file_key, head, mac)
    nonce = src.read(16)
    if len(nonce) != 16:
        raise ValueError("truncated age payload")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    size = CHUNK + 16
    counter = 0
    chunk = src.read(size)
    while True:
        following = src.read(size)
        last = not following
        try:
            plain = aead.decrypt(counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00"), chunk, None)
        except InvalidTag as e:
            raise ValueError(f"age payload chunk {counter} is damaged") from e
        if (not last and len(plain) != CHUNK) or (last and counter and not plain):
            raise ValueError("age payload chunks are not as age writes them")
        write(plain)
        if last:
            return
        counter += 1
        chunk = following


class AgeRandomReader(io.RawIOBase):
    """The plaintext of an age file as a seekable stream, each 64 KiB chunk decrypted (its tag
    checked) only when a read reaches it: a reader of the first bytes of a large original does
    not wait for the rest, and no plaintext is held beyond ``cache`` chunks (nothing on disk).

    The header MAC is checked on opening; a damaged chunk raises when it is read (never a byte
    of it returned), and a truncated or extended file fails on its last chunk (age's final-chunk
    flag) or on the chunk arithmetic below.

    Args:
        src: The age file, seekable (read under the caller's serialization: one user at a time).
        file_key: Its file key (:func:`unwrap_file_key`).
        cache: Decrypted chunks kept (the most recent).
        damaged: Makes the exception raised for damaged ciphertext from a message.

    Raises:
        ValueError: (``damaged``) Not an age file for this key, or a payload of impossible length.
    """

    def __init__(self, src: IO[bytes], file_key: bytes, *, cache: int = 8,
                 damaged: Callable[[str], Exception] = ValueError) -> None:
        super().__init__()
        self._damaged = damaged
        src.seek(0)
        try:
            _, head, mac = _read_header(src)
            _check_mac(file_key, head, mac)
        except ValueError as e:
            raise damaged(str(e)) from e
        nonce = src.read(16)
        if len(nonce) != 16:
            raise damaged("truncated age payload")
        self._start = src.tell()
        payload = src.seek(0, io.SEEK_END) - self._start
        step = CHUNK + 16
        self._chunks = max(1, -(-payload // step))
        self._last_len = payload - (self._chunks - 1) * step
        if self._last_len < 16 or (self._chunks > 1 and self._last_len == 16):
            raise damaged("age payload chunks are not as age writes them")
        self.size = payload - 16 * self._chunks
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._src, self._pos, self._keep = src, 0, max(1, cache)
        self._cache: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _chunk(self, i: int) -> bytes:
        got = self._cache.get(i)
        if got is not None:
            return got
        step = CHUNK + 16
        last = i == self._chunks - 1
        self._src.seek(self._start + i * step)
        ct = self._src.read(step)
        if len(ct) != (self._last_len if last else step):
            raise self._damaged("age payload changed while read")
        try:
            plain = self._aead.decrypt(i.to_bytes(11, "big") + (b"\x01" if last else b"\x00"), ct, None)
        except InvalidTag as e:
            raise self._damaged(f"age payload chunk {i} is damaged") from e
        self._cache[i] = plain
        while len(self._cache) > self._keep:
            del self._cache[next(iter(self._cache))]
        return plain

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        parts: list[bytes] = []
        pos = self._pos
        while pos < end:
            i, off = divmod(pos, CHUNK)
            part = self._chunk(i)[off:off + end - pos]
            parts.append(part)
            pos += len(part)
        self._pos = max(pos, self._pos)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None or base + offset < 0:
            raise ValueError(f"bad seek ({offset}, {whence})")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos
