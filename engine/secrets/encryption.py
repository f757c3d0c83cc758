"""Encryption at rest of exported Parquet files: Parquet modular encryption with pyarrow, keys from the secrets store.

Each file's columns and footer are encrypted (AES-GCM) with data keys Parquet generates per
file; those keys are wrapped (AES-256-GCM) by a key-encryption key derived from the master
key named in the step (``to: {encrypt: {key: ${secret:EXPORT_KEY}}}``), and stored wrapped in
the file. Nothing leaves the machine: the "KMS" is the secrets store. Without the master key
the file cannot be opened; with it any Parquet reader with a compatible KMS client can, and
``read_encrypted_parquet`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet.encryption as pe

KEY_ID = "flowdeck"
_KEK_INFO = b"flowdeck parquet key-encryption key v1"
BATCH_ROWS = 64 * 1024


class DecryptionFailed(FlowdeckError):
    """An encrypted file could not be opened with the key given."""


def key_encryption_key(master_key: str) -> bytes:
    """A 256-bit key derived (HKDF-SHA256) from the master key's text, whatever its length or alphabet."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(master_key.encode())


def _crypto_factory(master_key: str) -> pe.CryptoFactory:
    import base64
    import secrets

    import pyarrow.parquet.encryption as pe
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher = AESGCM(key_encryption_key(master_key))

    class LocalKms(pe.KmsClient):  # type: ignore[misc]
        """Wraps data keys with the key-encryption key; the key id is bound as associated data."""

        def __init__(self, _config: pe.KmsConnectionConfig) -> None:
            super().__init__()

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            nonce = secrets.token_bytes(12)
            sealed = cipher.encrypt(nonce, key_bytes, master_key_identifier.encode())
            return base64.b64encode(nonce + sealed).decode()

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            raw = base64.b64decode(wrapped_key)
            return cipher.decrypt(raw[:12], raw[12:], master_key_identifier.encode())

    return pe.CryptoFactory(LocalKms)


def encryption_properties(master_key: str, *, plaintext_footer: bool = False) -> Any:
    """pyarrow's file encryption properties: every column and the footer under the master key."""
    import pyarrow.parquet.encryption as pe

    config = pe.EncryptionConfiguration(footer_key=KEY_ID, uniform_encryption=True, plaintext_footer=plaintext_footer,
                                        double_wrapping=False)
    return _crypto_factory(master_key).file_encryption_properties(pe.KmsConnectionConfig(), config)


def write_encrypted_parquet(batches: pa.RecordBatchReader, path: Path, master_key: str, *,
                            compression: str | None = None, plaintext_footer: bool = False) -> int:
    """Write ``batches`` encrypted to exactly ``path``; return the number of rows.

    The load step gives a path beside the real file and renames it into place once complete
    (engine/run/steps.py), so a half-written file never carries the real name.
    """
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    properties = encryption_properties(master_key, plaintext_footer=plaintext_footer)
    with pq.ParquetWriter(path, batches.schema, encryption_properties=properties,
                          compression=compression or "snappy") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def read_encrypted_parquet(path: Path, master_key: str) -> pa.Table:
    """Read a file written by ``write_encrypted_parquet`` with its master key."""
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    properties = _crypto_factory(master_key).file_decryption_properties(pe.KmsConnectionConfig())
    try:
        return pq.read_table(path, decryption_properties=properties)
    except Exception as error:  # pyarrow reports a wrong key as OSError or as the unwrap's InvalidTag
        raise DecryptionFailed(f"cannot decrypt {path}: the key does not open it ({type(error).__name__})",
                               hint="use the master key named in the load step's `encrypt.key`") from None
