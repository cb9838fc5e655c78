"""A configured certificate and key are checked before serving: what cannot be used is an
error naming the files (exit status 2), not a traceback after the "serving" banner."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pressline.config import Settings
from pressline.server import ServeError, resolve_tls
from pressline.tls import ensure_self_signed


def settings(cert: Path, key: Path) -> Settings:
    return Settings(tls_cert=cert, tls_key=key)


def test_a_matching_pair_is_used(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path)
    tls = resolve_tls(settings(cert, key))
    assert tls is not None and (tls.cert, tls.key, tls.self_signed) == (cert, key, False)


def _other_key(tmp_path: Path, *, passphrase: bytes | None = None) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path = tmp_path / "other-key.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return path


@pytest.mark.parametrize(
    ("make_key", "reason"),
    [
        (lambda tmp: _other_key(tmp), "the key is not the certificate's"),
        (lambda tmp: _other_key(tmp, passphrase=b"secret"), "an unencrypted PEM key"),
        (lambda tmp: (tmp / "junk.pem", (tmp / "junk.pem").write_text("junk"))[0], "PEM"),
    ],
    ids=["another key", "encrypted key", "not PEM"],
)
def test_a_pair_that_cannot_be_used_is_an_error_naming_both_files(
    tmp_path: Path, make_key: object, reason: str
) -> None:
    cert, _ = ensure_self_signed(tmp_path / "tls")
    key = make_key(tmp_path)  # type: ignore[operator]
    with pytest.raises(ServeError) as refused:
        resolve_tls(settings(cert, key))
    message = str(refused.value)
    assert str(cert) in message and str(key) in message
    assert reason in message
