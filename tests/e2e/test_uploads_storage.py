"""Issue 13 uploads end to end, through the real gateway and tickets service into the real S3 server (`weed`, the
session's `s3_server`, which the stack's services use): a 25 MB photo streams through with flat memory, hostile
files are refused or served inertly, and an S3 server killed mid-upload gives a clear error and leaves no object."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest
from PIL import Image

from portal_local.s3 import WeedS3
from portal_local.stack import Stack
from servicekit.blobs_s3 import S3BlobStore
from tests.e2e.helpers import ACME, api, api_sign_in

MB = 1024 * 1024
PHOTO_SIZE = 25 * MB - 4096  # just under the 25 MB limit with the multipart framing
PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def phone_photo(size: int = PHOTO_SIZE) -> bytes:
    """A real 4000×3000 JPEG, padded after its end marker to `size` (a camera's trailing maker data)."""
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (90, 140, 200)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    return data + bytes(range(256)) * ((size - len(data)) // 256) + b"\x00" * ((size - len(data)) % 256)


def png_bomb(side: int = 50_000) -> bytes:
    """A ~300 KB PNG that claims a 50,000 × 50,000 canvas (2.5 billion pixels, 312 MB of 1-bit rows once
    inflated): decoding it whole is what a decompression bomb wants."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    z = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (side // 8)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return PNG_HEAD + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class PeakRss:
    """The highest resident memory of some processes while the block runs, sampled every 10 ms."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.before = {name: p.memory_info().rss for name, p in self.procs.items()}
        self.peak = dict(self.before)
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, p in self.procs.items():
                self.peak[name] = max(self.peak[name], p.memory_info().rss)
            time.sleep(0.01)

    @contextmanager
    def watching(self) -> Iterator[PeakRss]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def growth(self, name: str) -> int:
        return self.peak[name] - self.before[name]


def tickets_blobs(s3: WeedS3) -> list[str]:
    """The complete objects under the tickets service's prefix, as S3 lists them."""
    store = S3BlobStore.from_url(s3.store_url("tickets"), env=s3.env())
    return asyncio.run(store.keys())


def new_ticket(c: httpx.Client) -> str:
    r = c.post("/api/v1/tickets", json={"subject": "Storage probe", "description": "Files."})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def acme(stack: Stack) -> Iterator[httpx.Client]:
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        c.timeout = httpx.Timeout(120)
        yield c


def test_a_25_mb_photo_streams_through_with_flat_memory(stack: Stack, s3_server: WeedS3, acme: httpx.Client) -> None:
    photo = phone_photo()
    ticket_id = new_ticket(acme)
    # Photos first, up to the measured size: what a process pays once (the S3 client's runtime and connection pool,
    # Pillow's JPEG decoder, the allocator arenas of the worker threads at their largest) is not what is measured.
    # With only smaller ones first, the full-size upload once grew tickets by 12 MB in a whole-suite run.
    for size in (2 * MB, 12 * MB, PHOTO_SIZE):
        warm = phone_photo(size)
        r = acme.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("warm.jpg", warm, "image/jpeg")})
        assert r.status_code == 201, r.text[:300]
        assert acme.get(f"/api/v1/ticket-files/{r.json()['id']}").content == warm
    before = set(tickets_blobs(s3_server))
    pids = {name: stack.processes[name].pid for name in ("gateway", "tickets")}
    up = PeakRss(pids)  # type: ignore[arg-type]
    with up.watching():
        r = acme.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("IMG_0042.JPG", photo, "image/jpeg")})
        assert r.status_code == 201, r.text[:300]
        att = r.json()
    down_rss = PeakRss(pids)  # type: ignore[arg-type]
    with down_rss.watching(), acme.stream("GET", f"/api/v1/ticket-files/{att['id']}") as down:
        assert down.status_code == 200
        assert down.headers["content-length"] == str(len(photo))
        got = b"".join(down.iter_bytes())
    assert got == photo
    assert (att["content_type"], att["size_bytes"], att["has_thumbnail"]) == ("image/jpeg", len(photo), True)
    # The file and its thumbnail are objects in the bucket, under the tickets prefix.
    assert len(set(tickets_blobs(s3_server)) - before) == 2
    # Memory: neither process held the file (the bytes alone would be 25 MB, more with gRPC's copies). The gateway
    # spools the body to disk and passes 256 KiB chunks; the tickets service holds one S3 part (5 MiB, S3's
    # smallest) and reads the gRPC stream only as fast as it stores it (servicekit's server and channels turn off
    # gRPC's window growth, which let ~20 MB of a stream pile up ahead of its reader). Measured here once warm:
    # gateway under 1 MB, tickets 0-5 MB, each way, when this test runs alone; in a whole-suite run tickets has other
    # work in flight (the session stack's consumers and feeds) and grew 11-12 MB twice. The bound stays well under the
    # 25 MB file, so holding it whole still fails.
    for way, rss in (("up", up), ("down", down_rss)):
        print(way, {name: f"{rss.growth(name) / MB:.1f} MB" for name in pids})
        assert rss.growth("gateway") < 10 * MB, (way, rss.growth("gateway"))
        assert rss.growth("tickets") < 16 * MB, (way, rss.growth("tickets"))
    # Text is checked all the way through as it streams: the same flat memory.
    text = b"a line of a long log\n" * (PHOTO_SIZE // 21)
    rss = PeakRss({"tickets": pids["tickets"]})
    with rss.watching():
        r = acme.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("big.log", text, "text/plain")})
        assert r.status_code == 201, r.text[:300]
    print({"tickets (text)": f"{rss.growth('tickets') / MB:.1f} MB"})
    assert rss.growth("tickets") < 10 * MB, rss.growth("tickets")


def test_the_gateway_body_limit_is_wide_only_for_uploads(acme: httpx.Client) -> None:
    ticket_id = new_ticket(acme)
    url = f"/api/v1/tickets/{ticket_id}/attachments"
    # Over the service's 25 MB but within the gateway's allowance: the service's own, precise refusal.
    r = acme.post(url, files={"file": ("notes.txt", b"a" * (25 * MB + 1), "text/plain")})
    assert r.status_code == 400 and "larger than 26,214,400 bytes" in r.json()["detail"], r.text[:300]
    # Past the allowance: cut at the edge, as a problem.
    r = acme.post(url, files={"file": ("notes.txt", b"a" * (28 * MB), "text/plain")})
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    assert "25 MB" in r.json()["detail"]
    # Everywhere else the 2 MB limit stands, multipart or not.
    r = acme.post("/api/v1/tickets", json={"subject": "x" * (3 * MB), "description": "d"})
    assert r.status_code == 413
    r = acme.patch(f"/api/v1/tickets/{ticket_id}", files={"file": ("a.txt", b"a" * (3 * MB), "text/plain")})
    assert r.status_code == 413


def test_a_decompression_bomb_is_stored_without_a_preview(stack: Stack, s3_server: WeedS3, acme: httpx.Client) -> None:
    bomb = png_bomb()
    assert len(bomb) < 2 * MB
    ticket_id = new_ticket(acme)
    rss = PeakRss({"tickets": stack.processes["tickets"].pid})  # type: ignore[dict-item]
    with rss.watching():
        r = acme.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("big.png", bomb, "image/png")})
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["content_type"] == "image/png" and not att["has_thumbnail"]
    # Never decoded whole: the 312 MB of pixels never showed up in the service's memory.
    assert rss.growth("tickets") < 20 * MB, rss.growth("tickets")
    assert acme.get(f"/api/v1/ticket-files/{att['id']}").content == bomb


def test_hostile_names_and_contents(acme: httpx.Client) -> None:
    ticket_id = new_ticket(acme)
    url = f"/api/v1/tickets/{ticket_id}/attachments"
    small_png = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(small_png, format="PNG")

    # A name that climbs directories is stored as its last segment.
    r = acme.post(url, files={"file": ("../../etc/passwd.png", small_png.getvalue(), "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["filename"] == "passwd.png"
    down = acme.get(f"/api/v1/ticket-files/{r.json()['id']}")
    assert down.headers["content-disposition"] == "attachment; filename=\"passwd.png\"; filename*=UTF-8''passwd.png"

    # A non-ASCII name survives in filename* (RFC 6266), with a safe ASCII fallback.
    r = acme.post(url, files={"file": ("reçu «mars».png", small_png.getvalue(), "image/png")})
    down = acme.get(f"/api/v1/ticket-files/{r.json()['id']}")
    assert down.headers["content-disposition"] == (
        "attachment; filename=\"re_u _mars_.png\"; filename*=UTF-8''re%C3%A7u%20%C2%ABmars%C2%BB.png"
    )

    # Wrong content types: clear 400 problems saying why.
    refusals = (
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 500, "not accepted"),
        ("invoice.pdf", small_png.getvalue(), "does not match"),
        ("cat.png", b"<html><body><script>alert(document.cookie)</script></body></html>", "not accepted"),
    )
    for name, data, words in refusals:
        r = acme.post(url, files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 400, (name, r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.json()["detail"], (name, r.json())

    # HTML behind a real JPEG header is a JPEG as far as its bytes go: stored, but only ever served as a
    # download that cannot run (attachment, nosniff, a sandboxing CSP), under its true type.
    disguised = b"\xff\xd8\xff\xe0" + b"<html><script>alert(document.domain)</script></html>"
    r = acme.post(url, files={"file": ("cat.jpg", disguised, "text/html")})
    assert r.status_code == 201, r.text
    down = acme.get(f"/api/v1/ticket-files/{r.json()['id']}")
    assert down.headers["content-type"] == "image/jpeg"
    assert down.headers["content-disposition"].startswith("attachment;")
    assert down.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in down.headers["content-security-policy"]
    assert not r.json()["has_thumbnail"]


def test_s3_killed_mid_upload_is_a_clear_error_and_leaves_no_object(
    stack: Stack, s3_server: WeedS3, acme: httpx.Client
) -> None:
    photo = phone_photo()
    ticket_id = new_ticket(acme)
    before = tickets_blobs(s3_server)
    uploads_dir = f"http://{s3_server.host}:{s3_server.other_ports['filer.port']}/buckets/{s3_server.bucket}/.uploads/"
    answer: dict[str, httpx.Response] = {}

    def upload() -> None:
        answer["r"] = acme.post(
            f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("IMG_0043.JPG", photo, "image/jpeg")}
        )

    thread = threading.Thread(target=upload)
    killed = False
    try:
        thread.start()
        # The moment the multipart upload exists in the bucket (its first part on its way), the server dies.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and thread.is_alive():
            if _has_entries(uploads_dir):
                s3_server.kill()
                killed = True
                break
            time.sleep(0.002)
        thread.join(60)
        assert killed, "the upload finished before the S3 server could be killed"
        r = answer["r"]
        assert r.status_code == 503, r.text[:300]
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"].endswith("backend-unavailable") and "try again" in problem["detail"]
        assert "Traceback" not in r.text and "obstore" not in r.text
    finally:
        thread.join(60)
        if not s3_server.process.running:
            s3_server.start()
    # Back up: no half-written object is visible, and no attachment was recorded.
    assert tickets_blobs(s3_server) == before
    assert acme.get(f"/api/v1/tickets/{ticket_id}/attachments").json() == []
    # And the store works again for the next upload.
    r = acme.post(f"/api/v1/tickets/{ticket_id}/attachments", files={"file": ("after.txt", b"fine now", "text/plain")})
    assert r.status_code == 201, r.text


def _has_entries(url: str) -> bool:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (loopback filer)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=0.5) as resp:
            return b'"FullPath"' in resp.read()
    except OSError:
        return False


def test_a_retried_upload_with_the_same_key_is_one_file(s3_server: WeedS3, acme: httpx.Client) -> None:
    ticket_id = new_ticket(acme)
    url = f"/api/v1/tickets/{ticket_id}/attachments"
    before = set(tickets_blobs(s3_server))
    key = {"Idempotency-Key": "upload-retry-0123456789"}
    first = acme.post(url, files={"file": ("scan.pdf", b"%PDF-1.7\n%retry", "application/pdf")}, headers=key)
    again = acme.post(url, files={"file": ("scan.pdf", b"%PDF-1.7\n%retry", "application/pdf")}, headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert len(set(tickets_blobs(s3_server)) - before) == 1
    assert [a["id"] for a in acme.get(url).json()] == [first.json()["id"]]
