"""witnessbox.ledger: the sealed evidence archive's lowest layer.

Content store (age-encrypted, content-addressed originals), signed records (RFC 8785
canonical JSON + detached Ed25519 signatures), the custody log (hash-chained entries under an
RFC 6962 Merkle tree with signed checkpoints), pure verifiers, and the SQLite catalog index.
The on-disk layout is documented in ``docs/archive-format.md``.
"""
