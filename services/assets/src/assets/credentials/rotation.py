"""`python -m assets rotate-credential-keys`: after a new master key is put first in ASSETS_CREDENTIAL_KEYS (the old
one kept after it), re-wrap every credential's data key under the new key. The password ciphertexts are not
touched. When it reports 0 failures the old key can be removed from the list (and the service restarted)."""

from __future__ import annotations

import logging

from assets.credentials import service
from assets.credentials.crypto import Keyring
from servicekit.db import Database

log = logging.getLogger(__name__)


async def rotate_credential_keys(database_url: str, keyring: Keyring | None) -> int:
    """The process exit status: 0 when every data key is now under the current key."""
    if keyring is None:
        log.error("no credential keys are configured (ASSETS_CREDENTIAL_KEYS)")
        return 2
    db = Database(database_url)
    try:
        async with db.unit_of_work() as s:
            result = await service.rotate_keys(s, keyring=keyring)
    finally:
        await db.dispose()
    log.info("credential data keys re-wrapped under key %s: %d", keyring.current, result.rewrapped)
    if result.failed:
        log.error("credentials whose data key did not unwrap (left as they were): %s", ", ".join(result.failed))
        return 1
    return 0
