"""Issue 4 uploads through the real gateway and tickets service: refused files say why, accepted files come back
only as downloads that cannot run in the portal's origin, and names cannot climb directories."""

from __future__ import annotations

import re

import httpx

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in
from tests.e2e.test_tickets_private_notes import page_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
HTML = b"<!doctype html><html><body><script>fetch('/api/v1/me').then(r=>r.text()).then(alert)</script></body></html>"


def _ticket(c: httpx.Client) -> str:
    r = c.post("/api/v1/tickets", json={"subject": "Upload probe", "description": "Files."})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_uploads_through_the_api(stack) -> None:  # noqa: ANN001
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        ticket_id = _ticket(c)
        url = f"/api/v1/tickets/{ticket_id}/attachments"
        for name, data, words in (
            ("photo.png", b"this is not a png", "does not match"),
            ("page.html", HTML, "not accepted"),
            ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not accepted"),
        ):
            r = c.post(url, files={"file": (name, data, "image/png")})
            assert r.status_code == 400, (name, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/problem+json")
            assert words in r.json()["detail"], (name, r.json())
        # The 25 MB limit and streaming: tests/e2e/test_uploads_storage.py.

        r = c.post(url, files={"file": ("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n", "text/plain")})
        assert r.status_code == 201, r.text
        passwd = r.json()
        assert passwd["filename"] == "passwd.txt" and passwd["content_type"] == "text/plain"
        png = c.post(url, files={"file": ("screen.png", PNG, "image/png")}).json()

        listed = c.get(url).json()
        assert [a["filename"] for a in listed] == ["passwd.txt", "screen.png"]
        for att, media in ((passwd, "text/plain; charset=utf-8"), (png, "image/png")):
            r = c.get(f"/api/v1/ticket-files/{att['id']}")
            assert r.status_code == 200
            assert r.headers["content-type"] == media
            assert r.headers["content-disposition"].startswith("attachment;")
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in r.headers["content-security-policy"]
            assert "default-src 'none'" in r.headers["content-security-policy"]
        assert r.content == PNG

    blue = api_sign_in(stack, BLUE.login, BLUE.password)
    with api(stack, blue) as c:
        assert c.get(f"/api/v1/ticket-files/{png['id']}").status_code == 404
        assert c.get(url).status_code == 404
        assert c.post(url, files={"file": ("a.txt", b"hi", "text/plain")}).status_code == 404


def test_refused_upload_on_the_ticket_page_says_why(stack) -> None:  # noqa: ANN001
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        ticket_id = _ticket(c)
    with page_client(stack, token) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get(f"/tickets/{ticket_id}").text).group(1)
        r = c.post(
            f"/tickets/{ticket_id}/comments",
            data={"csrf_token": csrf, "body": ""},
            files={"file": ("evil.html", HTML, "text/html")},
        )
        assert r.status_code == 400
        assert "The file “evil.html” was not accepted" in r.text and "not accepted" in r.text
        assert "<script>fetch" not in r.text
        r = c.post(
            f"/tickets/{ticket_id}/comments",
            data={"csrf_token": csrf, "body": "Here is the log"},
            files={"file": ("../../etc/passwd", b"root:x:0:0\n", "text/plain")},
        )
        assert r.status_code == 303, r.text
        page = c.get(f"/tickets/{ticket_id}").text
        assert "passwd.txt" in page and "Here is the log" in page


def test_an_image_shows_its_thumbnail_on_the_ticket_page(stack) -> None:  # noqa: ANN001
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (800, 400), (10, 120, 60)).save(buf, format="PNG")
    token = api_sign_in(stack, ACME.login, ACME.password)
    with api(stack, token) as c:
        ticket_id = _ticket(c)
        image = {"file": ("rack.png", buf.getvalue(), "image/png")}
        r = c.post(f"/api/v1/tickets/{ticket_id}/attachments", files=image)
        assert r.status_code == 201 and r.json()["has_thumbnail"], r.text
        att_id = r.json()["id"]
    with page_client(stack, token) as c:
        assert f'<img src="/ticket-files/{att_id}/thumbnail"' in c.get(f"/tickets/{ticket_id}").text
        thumb = c.get(f"/ticket-files/{att_id}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(thumb.content)) as img:
            assert img.size == (240, 120)
