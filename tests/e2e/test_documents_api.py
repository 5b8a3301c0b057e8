"""Customer documents (SPEC A4) through the real gateway and assets service: staff upload public and internal
documents, the customer sees the public ones only (its home's Attachments section, the list, the download as an
attachment with a safe name), another customer sees none of them, refused files are 400 with a reason, and a
customer uploads with Documents - Upload and an Idempotency-Key. Each test removes what it made, so the
customers' homes keep showing the browser test's documents among their 10 oldest."""

from __future__ import annotations

import io
import re
import secrets
from urllib.parse import quote

import httpx
from PIL import Image

from tests.e2e.helpers import ACME, BLUE, api, api_sign_in


def png_bytes(color: str = "teal", size: tuple[int, int] = (120, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def staff_api(stack) -> httpx.Client:  # noqa: ANN001
    with api(stack) as c:
        r = c.post(
            "/api/v1/staff/sessions", json={"login": stack.config.staff_email, "password": stack.config.staff_password}
        )
    assert r.status_code == 201, r.text
    return api(stack, r.json()["session_token"])


def customer_id(stack, token: str) -> str:  # noqa: ANN001
    with api(stack, token) as c:
        return c.get("/api/v1/me").json()["customer_id"]


def test_staff_documents_reach_the_customer_only_when_public(stack) -> None:  # noqa: ANN001
    acme, blue = api_sign_in(stack, ACME.login, ACME.password), api_sign_in(stack, BLUE.login, BLUE.password)
    acme_id = customer_id(stack, acme)
    tag = secrets.token_hex(3)
    with staff_api(stack) as staff:
        url = f"/api/v1/staff/customers/{acme_id}/documents"
        r = staff.post(
            url,
            files={"file": (f"Floor plan é {tag}.png", png_bytes(), "image/png")},
            data={"visibility": "public"},
            headers={"Idempotency-Key": f"plan-{tag}"},
        )
        assert r.status_code == 201, r.text
        public = r.json()
        assert public["visibility"] == "public" and public["has_thumbnail"] and public["content_type"] == "image/png"
        again = staff.post(
            url,
            files={"file": (f"Floor plan é {tag}.png", png_bytes(), "image/png")},
            data={"visibility": "public"},
            headers={"Idempotency-Key": f"plan-{tag}"},
        )
        assert again.status_code == 201 and again.json()["id"] == public["id"]
        internal = staff.post(url, files={"file": (f"passwords {tag}.txt", b"secret notes\n", "text/plain")}).json()
        assert internal["visibility"] == "internal"  # staff's default
        listed = staff.get(url, params={"q": tag}).json()["items"]
        assert [d["id"] for d in listed] == [public["id"], internal["id"]]

        try:
            with api(stack, acme) as c:
                mine = c.get("/api/v1/documents", params={"q": tag}).json()["items"]
                assert [d["id"] for d in mine] == [public["id"]]
                r = c.get(f"/api/v1/documents/{public['id']}/download")
                assert r.status_code == 200 and r.content == png_bytes()
                assert r.headers["content-type"] == "image/png"
                disposition = r.headers["content-disposition"]
                assert disposition.startswith("attachment;")
                assert f"filename*=UTF-8''{quote(public['filename'], safe='')}" in disposition
                assert r.headers["x-content-type-options"] == "nosniff"
                assert "sandbox" in r.headers["content-security-policy"]
                assert c.get(f"/api/v1/documents/{internal['id']}/download").status_code == 404
                home = c.get("/api/v1/home").json()["attachments"]
                assert home["available"] and len(home["items"]) <= 10
                assert internal["id"] not in [d["id"] for d in home["items"]]
            with api(stack, blue) as c:
                assert c.get("/api/v1/documents", params={"q": tag}).json()["items"] == []
                for doc in (public, internal):
                    r = c.get(f"/api/v1/documents/{doc['id']}/download")
                    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")

            # Staff make the internal one public: now the customer downloads it.
            r = staff.put(f"/api/v1/staff/documents/{internal['id']}/visibility", json={"visibility": "public"})
            assert r.status_code == 200 and r.json()["visibility"] == "public"
            with api(stack, acme) as c:
                r = c.get(f"/api/v1/documents/{internal['id']}/download")
                assert r.status_code == 200 and r.content == b"secret notes\n"
                assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert staff.put(
                f"/api/v1/staff/documents/{internal['id']}/visibility", json={"visibility": "secret"}
            ).status_code in (400, 422)
        finally:
            for doc in (public, internal):
                assert staff.delete(f"/api/v1/staff/documents/{doc['id']}").status_code == 204
        assert staff.get(f"/api/v1/staff/documents/{public['id']}/download").status_code == 404
        with api(stack, acme) as c:
            assert c.get(f"/api/v1/documents/{public['id']}/download").status_code == 404


def test_refused_files_say_why_and_customers_upload_their_own(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    tag = secrets.token_hex(3)
    with api(stack, acme) as c:
        for name, data, words in (
            ("page.html", b"<html><script>alert(1)</script></html>", "not accepted"),
            ("photo.png", b"this is not a png at all", "does not match"),
            ("empty.txt", b"", "empty"),
        ):
            r = c.post("/api/v1/documents", files={"file": (name, data, "image/png")})
            assert r.status_code == 400, (name, r.status_code, r.text[:200])
            assert r.headers["content-type"].startswith("application/problem+json")
            assert words in r.json()["detail"], (name, r.json())
        assert c.post("/api/v1/documents").status_code in (400, 422)

        key = {"Idempotency-Key": f"mine-{tag}"}
        r = c.post(
            "/api/v1/documents", files={"file": (f"../../signed {tag}.txt", b"signed\n", "text/plain")}, headers=key
        )
        assert r.status_code == 201, r.text
        mine = r.json()
        assert (
            mine["visibility"] == "public" and "/" not in mine["filename"] and mine["uploaded_by_kind"] == "portal_user"
        )
        assert r.headers["location"] == f"/api/v1/documents/{mine['id']}/download"
        again = c.post("/api/v1/documents", files={"file": ("other.txt", b"other\n", "text/plain")}, headers=key)
        assert again.json()["id"] == mine["id"]
        assert [d["id"] for d in c.get("/api/v1/documents", params={"q": tag}).json()["items"]] == [mine["id"]]
        assert c.get("/api/v1/documents", params={"cursor": "!!"}).status_code in (400, 422)

        # Many 256 KiB chunks each way, past the 2 MB body limit of routes that take no file, byte for byte.
        log = b"".join(b"%06d line of a long log file\n" % i for i in range(200_000))
        assert 5_000_000 < len(log) < 25_000_000
        big = c.post("/api/v1/documents", files={"file": (f"long {tag}.log", log, "text/plain")}).json()
        assert big["size_bytes"] == len(log)
        assert c.get(f"/api/v1/documents/{big['id']}/download").content == log
    with staff_api(stack) as staff:
        for doc in (mine, big):
            assert staff.delete(f"/api/v1/staff/documents/{doc['id']}").status_code == 204


def test_the_documents_page_and_upload_form(stack) -> None:  # noqa: ANN001
    acme = api_sign_in(stack, ACME.login, ACME.password)
    tag = secrets.token_hex(3)
    cookies = {"Cookie": f"portal_session={acme}"}
    with httpx.Client(base_url=stack.gateway_url, headers=cookies, timeout=15, follow_redirects=False) as c:
        page = c.get("/documents")
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = c.post(
            "/documents",
            data={"csrf_token": csrf},
            files={"file": ("evil.html", b"<html><script>x</script>", "text/html")},
        )
        assert r.status_code == 400 and "The file “evil.html” was not accepted" in r.text
        r = c.post(
            "/documents",
            data={"csrf_token": csrf, "idempotency_key": f"form-{tag}"},
            files={"file": (f"minutes {tag}.txt", b"minutes\n", "text/plain")},
        )
        assert r.status_code == 303 and r.headers["location"] == "/documents?done=uploaded"
        listed = c.get("/documents", params={"q": tag})
        assert f"minutes {tag}.txt" in listed.text and "The document was uploaded." not in listed.text
        doc_id = re.search(r'href="/documents/([0-9a-f-]{36})/download"', listed.text).group(1)
        r = c.get(f"/documents/{doc_id}/download")
        assert (
            r.status_code == 200
            and r.content == b"minutes\n"
            and r.headers["content-disposition"].startswith("attachment;")
        )
        assert c.get(f"/documents/{doc_id}/thumbnail").status_code == 404  # text has no preview
        assert (
            c.post(
                "/documents", data={"csrf_token": "forged"}, files={"file": ("a.txt", b"a", "text/plain")}
            ).status_code
            == 403
        )
    with staff_api(stack) as staff:
        assert staff.delete(f"/api/v1/staff/documents/{doc_id}").status_code == 204
