import base64
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from portal_local.keys import ensure_keys


def test_keys_are_created_once_private_and_reused(tmp_path: Path) -> None:
    keys = ensure_keys(tmp_path)
    private = load_pem_private_key(keys.private_key_file.read_bytes(), password=None)
    public = load_pem_public_key(keys.public_key_file.read_bytes())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    assert private.public_key() == public
    for f in (keys.private_key_file, keys.public_key_file, keys.session_secret_file, keys.credential_keys_file):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert len(keys.session_secret) >= 40

    key_id, _, key = keys.credential_keys_file.read_text().strip().partition(":")
    assert key_id == "local-1" and len(base64.b64decode(key)) == 32
    before = {
        f: f.read_bytes()
        for f in (keys.private_key_file, keys.public_key_file, keys.session_secret_file, keys.credential_keys_file)
    }
    again = ensure_keys(tmp_path)
    assert {f: f.read_bytes() for f in before} == before
    assert again.session_secret == keys.session_secret


def test_remotes_command_key_is_its_own_ed25519_key_made_once(tmp_path: Path) -> None:
    keys = ensure_keys(tmp_path)
    pem = keys.command_key_file.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    command = load_pem_private_key(pem, password=None)
    assert isinstance(command, Ed25519PrivateKey)
    assert stat.S_IMODE(keys.command_key_file.stat().st_mode) == 0o600
    # Not the principal-signing key: a leaked command key must not mint principal tokens, nor the reverse.
    assert pem != keys.private_key_file.read_bytes()
    assert ensure_keys(tmp_path).command_key_file.read_bytes() == pem


def test_the_vapid_key_is_a_p256_key_made_once(tmp_path: Path) -> None:
    keys = ensure_keys(tmp_path)
    pem = keys.vapid_key_file.read_bytes()
    vapid = load_pem_private_key(pem, password=None)
    assert isinstance(vapid, ec.EllipticCurvePrivateKey) and vapid.curve.name == "secp256r1"
    assert stat.S_IMODE(keys.vapid_key_file.stat().st_mode) == 0o600
    assert ensure_keys(tmp_path).vapid_key_file.read_bytes() == pem
