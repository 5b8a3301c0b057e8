"""`python -m tickets blobs-migrate --from file:///old/dir`: copy every file the attachments table names (files and
thumbnails) from an old store to the one TICKETS_BLOB_STORE names, under the same keys, so no row changes. Run it
once when moving from a local directory to a bucket (docs/tickets.md); it is safe to run again: what the target
already has is skipped."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa

from servicekit.blobs import CopyReport, copy_blobs, open_store
from servicekit.db import Database
from tickets.tickets.models import Attachment

log = logging.getLogger(__name__)


async def referenced_keys(db: Database) -> AsyncIterator[str]:
    """Every blob key the attachments table names, in a stable order."""
    async with db.unit_of_work() as s:
        rows = (await s.execute(sa.select(Attachment.blob_key, Attachment.thumbnail_key).order_by(Attachment.id))).all()
    for blob_key, thumbnail_key in rows:
        yield blob_key
        if thumbnail_key:
            yield thumbnail_key


async def migrate(*, database_url: str, source_url: str, target_url: str) -> CopyReport:
    db = Database(database_url)
    try:
        return await copy_blobs(open_store(source_url), open_store(target_url), referenced_keys(db))
    finally:
        await db.dispose()


def command(argv: list[str], *, database_url: str, target_url: str) -> None:
    parser = argparse.ArgumentParser(prog="python -m tickets blobs-migrate", description=__doc__)
    parser.add_argument("--from", dest="source", required=True, help="the old store, e.g. file:///var/lib/blobs")
    parser.add_argument("--to", dest="target", default=target_url, help="default: TICKETS_BLOB_STORE")
    args = parser.parse_args(argv)
    if args.source == args.target:
        raise SystemExit("--from and --to name the same store")
    report = asyncio.run(migrate(database_url=database_url, source_url=args.source, target_url=args.target))
    log.info(
        "attachment files copied",
        extra={"copied": report.copied, "skipped": report.skipped, "missing": len(report.missing)},
    )
    print(f"copied {report.copied}, already there {report.skipped}, missing in the source {len(report.missing)}")
    for key in report.missing:
        print(f"missing: {key}")
    if report.missing:
        raise SystemExit(1)
