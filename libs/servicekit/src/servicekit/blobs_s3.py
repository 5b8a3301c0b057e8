"""Blobs in an S3-compatible bucket, through obstore (Rust's object_store underneath).

`s3://bucket/prefix` names the bucket and the prefix the keys go under; the endpoint, region and credentials
come from the standard AWS_* environment variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY), so the same image talks to AWS, to a cluster's S3 service or to the local `weed`.

A stream is written as a multipart upload of PART_SIZE parts, at most PART_CONCURRENCY in flight, so a 25 MB
photo costs a few parts of memory, not 25 MB; the object appears only when the upload completes, and obstore
aborts the upload when the stream or the network fails. Network and server failures become StoreUnavailable
with a message safe to show (no endpoint, no credentials), after a short bounded retry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import timedelta
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from servicekit.blob_core import CHUNK, StoreUnavailable, TooLarge, Written, check_key, new_key

log = logging.getLogger(__name__)

# S3's smallest part (but the last): a part is buffered before it is sent.
PART_SIZE = 5 * 1024 * 1024
PART_CONCURRENCY = 1
UNAVAILABLE = "the file store is unavailable; nothing was kept, please try again later"


class S3BlobStore:
    """The BlobStore protocol (servicekit.blobs) over one bucket and prefix."""

    def __init__(self, store: S3Store, *, part_size: int = PART_SIZE) -> None:
        self._store = store
        self.part_size = part_size

    @classmethod
    def from_url(cls, url: str, *, env: Mapping[str, str] | None = None) -> S3BlobStore:
        """`s3://bucket[/prefix]`, with endpoint, region and credentials from the AWS_* variables of `env`
        (the process environment by default). A plain-http endpoint (a local server) is allowed."""
        env = os.environ if env is None else env
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("an S3 blob store URL looks like s3://bucket/prefix")
        prefix = parts.path.strip("/") or None
        config: dict[str, object] = {"region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"}
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or ""
        if endpoint:
            config["endpoint"] = endpoint
            # A custom endpoint (SeaweedFS, MinIO, a cluster service) rarely has per-bucket DNS names.
            config["virtual_hosted_style_request"] = False
        if env.get("AWS_ACCESS_KEY_ID"):
            config["access_key_id"] = env["AWS_ACCESS_KEY_ID"]
            config["secret_access_key"] = env.get("AWS_SECRET_ACCESS_KEY", "")
            if env.get("AWS_SESSION_TOKEN"):
                config["token"] = env["AWS_SESSION_TOKEN"]
        store = S3Store(
            parts.netloc,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": timedelta(seconds=5),
                "timeout": timedelta(seconds=120),
            },
            # A dead server answers within seconds, not after object_store's default 3 minutes of retries.
            retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=10)},
        )
        return cls(store)

    async def put_stream(self, chunks: AsyncIterable[bytes], *, max_bytes: int, key: str | None = None) -> Written:
        key = check_key(key) if key else new_key()
        size = 0
        # What the stream itself raised (TooLarge, a content refusal): obstore reports it as its own error,
        # so it is kept here and raised again as it was. (GeneratorExit is obstore closing the stream after
        # a failure of its own, not one of ours.)
        failure: Exception | None = None

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size, failure
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    yield chunk
            except Exception as exc:
                failure = exc
                raise

        try:
            await obstore.put_async(
                self._store,
                key,
                counted(),
                chunk_size=self.part_size,
                max_concurrency=PART_CONCURRENCY,
            )
        except BaseException as exc:
            if failure is not None:
                raise failure from None
            if isinstance(exc, (BaseError, OSError, RuntimeError, ValueError)):
                log.warning("blob upload failed: %s", exc.__class__.__name__)
                raise StoreUnavailable(UNAVAILABLE) from None
            raise
        return Written(key=key, size=size)

    async def open(self, key: str) -> AsyncIterator[bytes]:
        check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError:
            raise
        except (BaseError, OSError) as exc:
            log.warning("blob read failed: %s", exc.__class__.__name__)
            raise StoreUnavailable(UNAVAILABLE) from None
        stream = result.stream(min_chunk_size=CHUNK)
        while True:
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except (BaseError, OSError) as exc:
                log.warning("blob read failed midway: %s", exc.__class__.__name__)
                raise StoreUnavailable(UNAVAILABLE) from None
            # object_store may hand a chunk larger than asked for; callers get CHUNK-sized pieces.
            for i in range(0, len(chunk), CHUNK):
                yield chunk[i : i + CHUNK]

    async def put(self, data: bytes) -> str:
        key = new_key()
        try:
            await obstore.put_async(self._store, key, data, use_multipart=False)
        except (BaseError, OSError) as exc:
            log.warning("blob write failed: %s", exc.__class__.__name__)
            raise StoreUnavailable(UNAVAILABLE) from None
        return key

    async def get(self, key: str) -> bytes:
        check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except FileNotFoundError:
            raise
        except (BaseError, OSError) as exc:
            log.warning("blob read failed: %s", exc.__class__.__name__)
            raise StoreUnavailable(UNAVAILABLE) from None

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return False
        except (BaseError, OSError) as exc:
            log.warning("blob lookup failed: %s", exc.__class__.__name__)
            raise StoreUnavailable(UNAVAILABLE) from None
        return True

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except FileNotFoundError:
            return
        except (BaseError, OSError) as exc:
            log.warning("blob delete failed: %s", exc.__class__.__name__)
            raise StoreUnavailable(UNAVAILABLE) from None

    async def keys(self) -> list[str]:
        """Every complete blob's key (tests, the migration's report); a listing never shows an unfinished upload."""
        found: list[str] = []
        async for batch in obstore.list(self._store, chunk_size=1000):
            found.extend(meta["path"].rsplit("/", 1)[-1] for meta in batch)
        return sorted(found)
