#!/usr/bin/env python3
"""verify.py: check a witnessbox evidence package with the Python standard library only.

This file is shipped unchanged as ``verify.py`` at the root of every evidence package (a
BagIt bag, RFC 8493) that witnessbox exports. It needs Python 3.8 or later and nothing
else: no witnessbox, no third-party package, no network. Run it from the bag's root::

    python3 verify.py            # or: python3 verify.py PATH/TO/BAG [--json]

It checks, and names the file for every failure:

1. the bag: ``bagit.txt``; every file listed in ``manifest-sha256.txt`` and
   ``tagmanifest-sha256.txt`` exists with that SHA-256; no file is missing from the
   manifests (an extra file fails); ``Payload-Oxum`` in ``bag-info.txt``; this very file
   is the ``verify.py`` the tag manifest lists;
2. canonical JSON (RFC 8785): every record, log entry, proof and checkpoint is byte for
   byte the canonical form of itself (a re-serialized or edited file fails);
3. signatures (Ed25519): each ``X.json.sig`` over ``X.json`` with
   ``keys/archive-signing.pub.pem``, and the checkpoint names that key's id. With OpenSSL 3
   on the PATH each signature is checked by running ``openssl pkeyutl -verify -rawin``;
   without it, by the RFC 8032 reference algorithm built into this file. The report says
   which one was used;
4. the custody log: each entry's RFC 6962 Merkle inclusion proof leads to the root of the
   signed checkpoint, at the position the entry states, in increasing order; consecutive
   entries chain by SHA-256 (``prev``);
5. completeness: ``data/export.json`` is signed by the archive key, so an item cannot be
   taken out of the package without breaking a signature;
6. cross-references: each item is sealed by a custody entry naming the SHA-256 of its
   record's exact bytes; each original's SHA-256 is the one its record states; each
   sidecar's SHA-256 is in its record or in a logged ``attach`` entry; every file named in
   ``data/export.json`` is present and nothing else is.

Exit status 0 when everything passed, 1 when anything failed, 2 on a usage error.
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

FORMAT = "witnessbox-evidence-package/1"
PUBLIC_KEY = "keys/archive-signing.pub.pem"
EXPORT_JSON = "data/export.json"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Finding:
    """One failed check: the bag-relative file it concerns and why."""

    path: str
    reason: str


@dataclass
class Report:
    """What a verification found. ``ok`` is true only when nothing failed."""

    bag: str
    failures: List[Finding] = field(default_factory=list)
    passed: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, path: str, reason: str) -> None:
        self.failures.append(Finding(path, reason))

    def failed_paths(self) -> List[str]:
        return sorted({f.path for f in self.failures})

    def to_json(self) -> Dict[str, Any]:
        return {
            "bag": self.bag,
            "ok": self.ok,
            "failures": [{"path": f.path, "reason": f.reason} for f in self.failures],
            "passed": self.passed,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- RFC 8785


class CanonicalJSONError(ValueError):
    """A value has no RFC 8785 form (NaN, infinity, a lone surrogate, a duplicate key)."""


def _jcs_number(v: float) -> str:
    # ECMAScript Number.prototype.toString, which RFC 8785 section 3.2.2.3 prescribes.
    # Python's repr gives the same shortest round-trip digits; only the layout differs.
    if v != v or v in (float("inf"), float("-inf")):
        raise CanonicalJSONError("NaN and infinity have no JSON form")
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMAScript does.
    t = decimal.Decimal(repr(abs(v))).as_tuple()
    digits = "".join(map(str, t.digits))
    exp = int(t.exponent)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    digits = stripped.lstrip("0")
    # value = int(digits) * 10**exp; n is where the decimal point falls after the first digit.
    n = len(digits) + exp
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + es
    return sign + out


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _jcs_string(s: str) -> str:
    parts = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _ESCAPES:
            parts.append(_ESCAPES[ch])
        elif o < 0x20:
            parts.append("\\u%04x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            raise CanonicalJSONError("lone surrogate in a string")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def _jcs(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        # RFC 8785 numbers are IEEE doubles: integers beyond 2**53 are not exact.
        return str(v) if abs(v) < 2**53 else _jcs_number(float(v))
    if isinstance(v, float):
        return _jcs_number(v)
    if isinstance(v, str):
        return _jcs_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        # Sorted by UTF-16 code units (RFC 8785 section 3.2.3), not by code points.
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_jcs_string(k) + ":" + _jcs(v[k]) for k in keys) + "}"
    raise CanonicalJSONError("type %s has no JSON form" % type(v).__name__)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of ``value``.

    Raises:
        CanonicalJSONError: ``value`` holds something JSON cannot say exactly.
    """
    return _jcs(value).encode("utf-8")


def _no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CanonicalJSONError("duplicate key %r" % k)
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise CanonicalJSONError("%s is not JSON" % name)


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` and check it is exactly its own RFC 8785 form.

    Raises:
        CanonicalJSONError: Not JSON, or JSON that is not byte-for-byte canonical.
    """
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CanonicalJSONError("not valid JSON: %s" % e) from e
    if canonical_json(value) != data:
        raise CanonicalJSONError("not in canonical form (RFC 8785): it was edited or re-serialized")
    return value


# --------------------------------------------------------------------------- RFC 6962


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """The tree root that an inclusion proof implies (RFC 9162 section 2.1.3.2).

    Raises:
        ValueError: The proof cannot belong to a tree of ``size`` leaves at ``index``.
    """
    if not 0 <= index < size:
        raise ValueError("leaf index %d outside a tree of %d leaves" % (index, size))
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree needs")
    return r


# --------------------------------------------------------------------------- Ed25519
# The RFC 8032 section 6 reference verifier, used only when OpenSSL is not on the PATH.
# Verification handles no secret, so the timing of plain Python integers is harmless here.

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = Tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    pa = (a[1] - a[0]) * (b[1] - b[0]) % _P
    pb = (a[1] + a[0]) * (b[1] + b[0]) % _P
    pc = 2 * a[3] * b[3] * _D % _P
    pd = 2 * a[2] * b[2] % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, pt: _Point) -> _Point:
    acc: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _equal(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> Optional[int]:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> Optional[_Point]:
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Check an Ed25519 signature (RFC 8032) in pure Python; false on any malformed input."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def ed25519_public_key_from_pem(pem: bytes) -> bytes:
    """The raw 32-byte key inside a ``-----BEGIN PUBLIC KEY-----`` Ed25519 PEM.

    Raises:
        ValueError: Not a PEM Ed25519 public key.
    """
    import base64
    import binascii

    lines = pem.decode("ascii", "replace").strip().splitlines()
    if not lines or lines[0] != "-----BEGIN PUBLIC KEY-----" or lines[-1] != "-----END PUBLIC KEY-----":
        raise ValueError("not a PEM public key")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("bad base64 in the PEM public key") from e
    if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise ValueError("not an Ed25519 public key")
    return der[len(_ED25519_SPKI_PREFIX) :]


class _SignatureChecker:
    """Checks ``X.sig`` over ``X`` with OpenSSL when present, else the built-in verifier."""

    def __init__(self, bag: Path, report: Report, use_openssl: Optional[bool]) -> None:
        self._bag = bag
        self._report = report
        openssl = shutil.which("openssl") if use_openssl is not False else None
        self._openssl = openssl if openssl and self._openssl_has_rawin(openssl) else None
        self._raw_key: Optional[bytes] = None
        self.key_id: Optional[str] = None
        self.method = "openssl pkeyutl -verify -rawin" if self._openssl else "built-in RFC 8032 verifier (no OpenSSL 3 found)"

    @staticmethod
    def _openssl_has_rawin(openssl: str) -> bool:
        try:
            out = subprocess.run([openssl, "version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        return out.startswith("OpenSSL ") and not out.startswith(("OpenSSL 0.", "OpenSSL 1."))

    def load_key(self) -> bool:
        path = self._bag / PUBLIC_KEY
        try:
            self._raw_key = ed25519_public_key_from_pem(path.read_bytes())
        except (OSError, ValueError) as e:
            self._report.fail(PUBLIC_KEY, "cannot read the archive public key: %s" % e)
            return False
        # The archive names its key by the SHA-256 of the DER SubjectPublicKeyInfo.
        self.key_id = hashlib.sha256(_ED25519_SPKI_PREFIX + self._raw_key).hexdigest()
        return True

    def check(self, rel: str) -> bool:
        """Verify ``rel + '.sig'`` over ``rel``; record a failure naming the file if it fails."""
        sig_rel = rel + ".sig"
        target, sig = self._bag / rel, self._bag / sig_rel
        if self._raw_key is None:
            return False
        try:
            signature, message = sig.read_bytes(), target.read_bytes()
        except OSError as e:
            self._report.fail(sig_rel if not sig.exists() else rel, "cannot read: %s" % e.strerror)
            return False
        if self._openssl:
            proc = subprocess.run(
                [self._openssl, "pkeyutl", "-verify", "-pubin", "-inkey", PUBLIC_KEY, "-rawin", "-in", rel, "-sigfile", sig_rel],
                cwd=self._bag,
                capture_output=True,
                text=True,
                timeout=60,
            )
            good = proc.returncode == 0 and "Signature Verified Successfully" in proc.stdout
        else:
            good = ed25519_verify(self._raw_key, message, signature)
        if not good:
            self._report.fail(rel, "signature %s does not match this file and %s" % (sig_rel, PUBLIC_KEY))
        return good


# --------------------------------------------------------------------------- BagIt


def _decode_manifest_path(p: str) -> str:
    # RFC 8493 section 2.1.3: only CR, LF and % are percent-encoded in manifest paths.
    return p.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _read_manifest(bag: Path, name: str, report: Report) -> Optional[Dict[str, str]]:
    try:
        text = (bag / name).read_bytes().decode("utf-8")
    except OSError:
        report.fail(name, "missing")
        return None
    except UnicodeDecodeError:
        report.fail(name, "not UTF-8")
        return None
    entries: Dict[str, str] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        digest, sep, path = line.partition(" ")
        path = path.lstrip(" ").lstrip("*")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()) or not path:
            report.fail(name, "line %d is not 'SHA256  PATH'" % lineno)
            continue
        path = _decode_manifest_path(path)
        if path in entries:
            report.fail(name, "line %d lists %s twice" % (lineno, path))
        if path.startswith("/") or ".." in path.split("/"):
            report.fail(name, "line %d names a path outside the bag: %s" % (lineno, path))
            continue
        entries[path] = digest.lower()
    return entries


def _sha256_file(path: Path) -> str:
    # Payload files are hashed by the manifest check and again by the record checks; the
    # cache key includes size and mtime so a file changed in between is hashed anew.
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _all_files(bag: Path, report: Report) -> List[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(bag):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, bag).replace(os.sep, "/")
            # A link could make the checks read files outside the bag: never follow one.
            if os.path.islink(full):
                report.fail(rel, "is a symbolic link; a bag holds only plain files")
            elif name in filenames:
                out.append(rel)
    return out


def _check_bag(bag: Path, report: Report) -> Dict[str, str]:
    try:
        bagit = (bag / "bagit.txt").read_bytes()
    except OSError:
        report.fail("bagit.txt", "missing: this is not a BagIt bag")
        bagit = b""
    if bagit and bagit != b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n":
        report.fail("bagit.txt", "not the BagIt 1.0 declaration witnessbox writes")
    payload = _read_manifest(bag, MANIFEST, report) or {}
    tags = _read_manifest(bag, TAGMANIFEST, report) or {}
    present = set(_all_files(bag, report))
    for name, listed in ((MANIFEST, payload), (TAGMANIFEST, tags)):
        for rel, digest in sorted(listed.items()):
            if name == MANIFEST and not rel.startswith("data/"):
                report.fail(MANIFEST, "lists %s, which is not under data/" % rel)
            if rel not in present:
                report.fail(rel, "missing (listed in %s)" % name)
            elif _sha256_file(bag / rel) != digest:
                report.fail(rel, "SHA-256 differs from the one in %s: this file (or that manifest) was changed" % name)
    for rel in sorted(present):
        if rel == TAGMANIFEST:
            continue
        if rel.startswith("data/") and rel not in payload:
            report.fail(rel, "extra file: not listed in %s" % MANIFEST)
        elif not rel.startswith("data/") and rel not in tags:
            report.fail(rel, "extra file: not listed in %s" % TAGMANIFEST)
    for must in (MANIFEST, "bagit.txt", "bag-info.txt", "VERIFY.txt", "verify.py", PUBLIC_KEY):
        if must in present and must not in tags:
            report.fail(TAGMANIFEST, "does not list %s" % must)
    _check_oxum(bag, payload, report)
    # Our own bytes must be those the tag manifest lists, or this verifier may be a forgery.
    me = Path(__file__).resolve()
    if me.parent == bag.resolve() and tags.get("verify.py") and _sha256_file(me) != tags["verify.py"]:
        report.fail("verify.py", "this verifier is not the one the bag was made with")
    # Counted from the files present, not from the manifests' lines: a missing file must not
    # be counted as checked.
    n_payload = sum(1 for rel in present if rel.startswith("data/"))
    n_tags = sum(1 for rel in present if not rel.startswith("data/") and rel != TAGMANIFEST)
    report.passed.append("bag manifests (%d payload files, %d tag files present)" % (n_payload, n_tags))
    return payload


def _check_oxum(bag: Path, payload: Dict[str, str], report: Report) -> None:
    try:
        info = (bag / "bag-info.txt").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        report.fail("bag-info.txt", "missing or not UTF-8")
        return
    oxum = [ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("Payload-Oxum:")]
    if len(oxum) != 1:
        report.fail("bag-info.txt", "needs exactly one Payload-Oxum")
        return
    octets = sum((bag / p).stat().st_size for p in payload if (bag / p).is_file())
    if oxum[0] != "%d.%d" % (octets, len(payload)):
        report.fail("bag-info.txt", "Payload-Oxum %s does not match the payload (%d.%d)" % (oxum[0], octets, len(payload)))


# --------------------------------------------------------------------------- evidence

SEAL_ACTIONS = ("add", "derive")


def _load_canonical(bag: Path, rel: str, report: Report) -> Any:
    try:
        data = (bag / rel).read_bytes()
    except OSError:
        report.fail(rel, "missing")
        return None
    try:
        return parse_canonical(data)
    except CanonicalJSONError as e:
        report.fail(rel, str(e))
        return None


def _hex(value: Any, n: int = 32) -> Optional[bytes]:
    if not isinstance(value, str) or len(value) != 2 * n:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def _str(d: Any, key: str) -> Optional[str]:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, str) else None


def _check_checkpoint(bag: Path, custody: Dict[str, Any], sigs: _SignatureChecker, report: Report) -> Optional[Tuple[int, bytes]]:
    cp_rel = _str(custody, "checkpoint")
    if cp_rel is None:
        report.fail(EXPORT_JSON, "names no checkpoint")
        return None
    checkpoint = _load_canonical(bag, cp_rel, report)
    sigs.check(cp_rel)
    if not isinstance(checkpoint, dict):
        return None
    size, root = checkpoint.get("tree_size"), _hex(checkpoint.get("root_hash"))
    if not isinstance(size, int) or isinstance(size, bool) or root is None:
        report.fail(cp_rel, "has no tree size and root hash")
        return None
    if sigs.key_id and checkpoint.get("key_id") != sigs.key_id:
        report.fail(cp_rel, "names another signing key than %s" % PUBLIC_KEY)
    return size, root


def _check_custody(bag: Path, manifest: Dict[str, Any], sigs: _SignatureChecker, report: Report) -> Dict[int, Dict[str, Any]]:
    """Check every exported log entry against the signed checkpoint; return them by seq."""
    found: Dict[int, Dict[str, Any]] = {}
    custody = manifest.get("custody")
    if not isinstance(custody, dict) or not isinstance(custody.get("entries"), list):
        report.fail(EXPORT_JSON, "has no custody section with a list of entries")
        return found
    head = _check_checkpoint(bag, custody, sigs, report)
    if head is None:
        return found
    size, root = head
    last_index = -1
    raw: Dict[int, bytes] = {}
    for e in custody["entries"]:
        entry_rel, proof_rel = _str(e, "entry"), _str(e, "proof")
        if entry_rel is None or proof_rel is None:
            report.fail(EXPORT_JSON, "malformed custody entry %r" % (e,))
            continue
        try:
            entry_bytes = (bag / entry_rel).read_bytes()
        except OSError:
            report.fail(entry_rel, "missing")
            continue
        try:
            entry = parse_canonical(entry_bytes)
        except CanonicalJSONError as err:
            report.fail(entry_rel, str(err))
            entry = None
        proof = _load_canonical(bag, proof_rel, report)
        if not isinstance(proof, dict):
            continue
        index, path = proof.get("leaf_index"), proof.get("audit_path")
        hashes = [_hex(h) for h in path] if isinstance(path, list) else [None]
        if not isinstance(index, int) or proof.get("tree_size") != size or any(h is None for h in hashes):
            report.fail(proof_rel, "is not an inclusion proof into the checkpoint's tree of %d entries" % size)
            continue
        if index <= last_index:
            report.fail(entry_rel, "custody log out of order: entry %d listed after entry %d" % (index, last_index))
        last_index = max(last_index, index)
        if isinstance(entry, dict) and entry.get("seq") != index:
            report.fail(entry_rel, "says it is entry %r but its proof is for position %d" % (entry.get("seq"), index))
        try:
            implied = root_from_inclusion_proof(index, size, leaf_hash(entry_bytes), [h for h in hashes if h is not None])
        except ValueError as err:
            report.fail(proof_rel, str(err))
            continue
        if implied != root:
            report.fail(entry_rel, "is not entry %d of the signed custody log (its Merkle proof %s does not lead to the root in the checkpoint)" % (index, proof_rel))
            continue
        raw[index] = entry_bytes
        if isinstance(entry, dict):
            found[index] = entry
    # Consecutive entries also form a hash chain: a cheap second witness of their order.
    for seq in sorted(raw):
        nxt = found.get(seq + 1)
        if nxt is not None and nxt.get("prev") != hashlib.sha256(raw[seq]).hexdigest():
            report.fail("data/custody/entries/%012d.json" % (seq + 1), "does not chain to entry %d" % seq)
    report.passed.append("custody log: %d entries proven in the signed checkpoint of %d entries" % (len(raw), size))
    return found


def _check_items(bag: Path, manifest: Dict[str, Any], sigs: _SignatureChecker, entries: Dict[int, Dict[str, Any]], report: Report) -> None:
    items = manifest.get("items")
    if not isinstance(items, list):
        report.fail(EXPORT_JSON, "has no list of items")
        return
    # The entry that sealed an item names the SHA-256 of its record's exact bytes; a sidecar
    # is either listed in the signed record or added later by a logged "attach" entry.
    sealed: Dict[str, str] = {}
    attached: Dict[Tuple[str, str], str] = {}
    for e in entries.values():
        objs, details = e.get("objects"), e.get("details")
        if not isinstance(objs, list) or not objs or not isinstance(details, dict):
            continue
        if e.get("action") in SEAL_ACTIONS and isinstance(details.get("record_sha256"), str):
            sealed[str(objs[0])] = details["record_sha256"]
        elif e.get("action") == "attach" and isinstance(details.get("name"), str) and isinstance(details.get("sha256"), str):
            attached[(str(objs[0]), details["name"])] = details["sha256"]
    for it in items:
        rec_rel, sha, file_rel = _str(it, "record"), _str(it, "sha256"), _str(it, "file")
        if rec_rel is None or sha is None or file_rel is None:
            report.fail(EXPORT_JSON, "malformed item %r" % (it,))
            continue
        record = _load_canonical(bag, rec_rel, report)
        sigs.check(rec_rel)
        if not isinstance(record, dict):
            continue
        if record.get("sha256") != sha:
            report.fail(rec_rel, "is the record of another item than %s" % sha)
        if (it.get("role") == "derivative") != (record.get("parent") is not None) or it.get("parent") != record.get("parent"):
            report.fail(EXPORT_JSON, "says item %s is %s, its signed record says otherwise" % (sha, it.get("role")))
        if (bag / file_rel).is_file() and _sha256_file(bag / file_rel) != record.get("sha256"):
            report.fail(file_rel, "SHA-256 is not the one its signed record %s states" % rec_rel)
        if sha not in sealed:
            report.fail(rec_rel, "no custody entry in the package seals this item")
        elif (bag / rec_rel).is_file() and _sha256_file(bag / rec_rel) != sealed[sha]:
            report.fail(rec_rel, "is not the record the custody log sealed for this item")
        signed = record.get("sidecars")
        signed_sidecars: Dict[str, Any] = signed if isinstance(signed, dict) else {}
        listed = set()
        for sc in it.get("sidecars", []) if isinstance(it.get("sidecars"), list) else []:
            name, sc_rel = _str(sc, "name"), _str(sc, "file")
            if name is None or sc_rel is None:
                report.fail(EXPORT_JSON, "malformed sidecar %r" % (sc,))
                continue
            listed.add(name)
            expect = signed_sidecars.get(name) or attached.get((sha, name))
            if expect is None:
                report.fail(sc_rel, "is neither in its signed record %s nor attached by a custody entry" % rec_rel)
            elif (bag / sc_rel).is_file() and _sha256_file(bag / sc_rel) != expect:
                report.fail(sc_rel, "SHA-256 is not the one its signed record or custody entry states")
        for name in sorted((set(signed_sidecars) | {n for (o, n) in attached if o == sha}) - listed):
            report.fail(rec_rel, "lists sidecar %s, which the package does not hold" % name)
    report.passed.append("records: %d signed records match their files" % len(items))


def _named_files(manifest: Dict[str, Any]) -> Set[str]:
    named = {EXPORT_JSON, EXPORT_JSON + ".sig"}
    for it in manifest.get("items", []) if isinstance(manifest.get("items"), list) else []:
        for k in ("file", "record"):
            if _str(it, k):
                named.add(it[k])
        if _str(it, "record"):
            named.add(it["record"] + ".sig")
        for sc in it.get("sidecars", []) if isinstance(it, dict) and isinstance(it.get("sidecars"), list) else []:
            if _str(sc, "file"):
                named.add(sc["file"])
    custody = manifest.get("custody")
    if isinstance(custody, dict):
        for k in ("checkpoint", "timestamp"):
            if _str(custody, k):
                named.add(custody[k])
        if _str(custody, "checkpoint"):
            named.add(custody["checkpoint"] + ".sig")
        for e in custody.get("entries", []) if isinstance(custody.get("entries"), list) else []:
            for k in ("entry", "proof"):
                if _str(e, k):
                    named.add(e[k])
    if _str(manifest, "incidents"):
        named.add(manifest["incidents"])
    return named


def _check_listing(manifest: Dict[str, Any], payload: Dict[str, str], report: Report) -> None:
    named = _named_files(manifest)
    for rel in sorted(named - set(payload)):
        report.fail(rel, "named in %s but not in %s" % (EXPORT_JSON, MANIFEST))
    for rel in sorted(set(payload) - named):
        report.fail(rel, "in the bag but not named in %s" % EXPORT_JSON)


def verify_bag(bag: Path, *, use_openssl: Optional[bool] = None) -> Report:
    """Run every check on the bag at ``bag``.

    Args:
        bag: The bag's root folder (where ``bagit.txt`` is).
        use_openssl: False forces the built-in Ed25519 verifier; None uses OpenSSL 3 if found.

    Returns:
        The report; ``report.ok`` is true only when everything passed.
    """
    bag = Path(bag)
    report = Report(str(bag))
    payload = _check_bag(bag, report)
    sigs = _SignatureChecker(bag, report, use_openssl)
    report.notes.append("signatures checked with " + sigs.method)
    manifest = _load_canonical(bag, EXPORT_JSON, report)
    if not isinstance(manifest, dict):
        return report
    if manifest.get("format") != FORMAT:
        report.fail(EXPORT_JSON, "format is %r, this verifier reads %r" % (manifest.get("format"), FORMAT))
        return report
    if sigs.load_key():
        sigs.check(EXPORT_JSON)
        entries = _check_custody(bag, manifest, sigs, report)
        _check_items(bag, manifest, sigs, entries, report)
    _check_listing(manifest, payload, report)
    incidents = _str(manifest, "incidents")
    if incidents:
        _load_canonical(bag, incidents, report)
        # The bag manifests are unsigned: only the signed export.json binds the incident file.
        expect = _str(manifest, "incidents_sha256")
        if not expect:
            report.fail(incidents, "its SHA-256 is not stated in the signed %s" % EXPORT_JSON)
        elif (bag / incidents).is_file() and _sha256_file(bag / incidents) != expect:
            report.fail(incidents, "SHA-256 is not the one the signed %s states" % EXPORT_JSON)
    return report


def _print(report: Report, out: Callable[[str], None]) -> None:
    for n in report.notes:
        out("note: " + n)
    for p in report.passed:
        out("checked: " + p)
    for f in report.failures:
        out("FAIL %s: %s" % (f.path, f.reason))
    out("OK: every check passed" if report.ok else "FAILED: %d problem(s) in %d file(s)" % (len(report.failures), len(report.failed_paths())))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry: ``python3 verify.py [BAG] [--json] [--no-openssl]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    use_openssl = False if "--no-openssl" in args else None
    rest = [a for a in args if a not in ("--json", "--no-openssl")]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        sys.stderr.write("usage: python3 verify.py [BAG_DIR] [--json] [--no-openssl]\n")
        return 2
    bag = Path(rest[0]) if rest else Path(__file__).resolve().parent
    report = verify_bag(bag, use_openssl=use_openssl)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(report, print)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
