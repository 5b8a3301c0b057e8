"""Attachments over gRPC (a client stream up, a server stream down): the allow-list by content, sizes, names,
private files, closed tickets, isolation, and the stream's own rules."""

from __future__ import annotations

import grpc
import pytest

from portal.tickets.v1 import tickets_pb2
from servicekit.errors import InvalidArgument
from servicekit.permissions import TICKETS_CREATE, TICKETS_VIEW_ALL
from servicekit.uploads import content

ALL = {TICKETS_CREATE, TICKETS_VIEW_ALL}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CHUNK = 256 * 1024


async def code_of(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code(), err.value.details() or ""


def upload(ticket_id: str, filename: str, data: bytes, *, chunk: int = CHUNK, **kw) -> list:  # noqa: ANN003
    """The request stream of AddAttachment: the metadata, then the file in chunks."""
    meta = tickets_pb2.AttachmentUpload(ticket_id=ticket_id, filename=filename, **kw)
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    return [
        tickets_pb2.AddAttachmentRequest(metadata=meta),
        *(tickets_pb2.AddAttachmentRequest(chunk=c) for c in chunks),
    ]


async def download(stub, req: tickets_pb2.GetAttachmentRequest, metadata) -> tuple:  # noqa: ANN001
    """(the attachment, its bytes) from GetAttachment's stream."""
    messages = [m async for m in stub.GetAttachment(req, metadata=metadata)]
    assert messages[0].WhichOneof("part") == "attachment"
    assert all(m.WhichOneof("part") == "chunk" for m in messages[1:])
    return messages[0].attachment, b"".join(m.chunk for m in messages[1:])


def test_detection_and_names() -> None:
    assert content.detect(PNG) is content.PNG
    assert content.detect(b"%PDF-1.7 ...") is content.PDF
    assert content.detect("Journal: café".encode()) is content.TEXT
    for refused in (
        b"<html><script>alert(1)</script></html>",
        b"hello <svg onload=alert(1)>",
        b"<?xml version='1.0'?><svg/>",
        b"MZ\x90\x00\x03",
        b"\xff\xfe\x00bad",
    ):
        assert content.detect(refused) is None, refused
    assert content.safe_name("../../etc/passwd") == "passwd"
    assert content.safe_name("..\\..\\boot.ini") == "boot.ini"
    assert content.safe_name("  .hidden\x00\n.txt") == "hidden__.txt"
    assert content.safe_name("") == "file"
    assert content.check("../../etc/passwd", b"root:x:0:0", max_bytes=100) == ("passwd.txt", content.TEXT)
    assert content.check("photo.PNG", PNG, max_bytes=1000)[0] == "photo.PNG"
    with pytest.raises(InvalidArgument, match="does not match"):
        content.check("photo.png", b"just text", max_bytes=100)
    with pytest.raises(InvalidArgument, match="does not match"):
        content.check("page.html", b"plain words", max_bytes=100)
    with pytest.raises(InvalidArgument, match="at most 10 bytes"):
        content.check("a.txt", b"x" * 11, max_bytes=10)


async def test_upload_rules_over_grpc(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    staff = served.keys.metadata(principals.staff())
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="Photo", description="See file"), metadata=alice)
    ).ticket

    def add(filename: str, data: bytes, **kw) -> list:  # noqa: ANN003
        return upload(ticket.id, filename, data, **kw)

    ok = (await s.AddAttachment(add("screen.png", PNG), metadata=alice)).attachment
    assert (ok.filename, ok.content_type, ok.size_bytes, ok.is_public) == ("screen.png", "image/png", len(PNG), True)
    passwd = (await s.AddAttachment(add("../../etc/passwd", b"root:x:0:0"), metadata=alice)).attachment
    assert passwd.filename == "passwd.txt" and passwd.content_type == "text/plain"

    for filename, data, words in (
        ("big.txt", b"x" * 100_001, "larger than 100,000 bytes"),
        ("fake.png", b"not an image at all", "does not match"),
        ("evil.html", b"<html><body><script>alert(document.cookie)</script></body></html>", "not accepted"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "not accepted"),
        ("empty.txt", b"", "empty"),
    ):
        code, details = await code_of(s.AddAttachment(add(filename, data), metadata=alice))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in details, (filename, details)

    code, _ = await code_of(s.AddAttachment(add("n.txt", b"internal", private=True), metadata=alice))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    hidden = (await s.AddAttachment(add("notes.txt", b"internal only", private=True), metadata=staff)).attachment

    listed = await s.ListAttachments(tickets_pb2.ListAttachmentsRequest(ticket_id=ticket.id), metadata=alice)
    assert [a.id for a in listed.attachments] == [ok.id, passwd.id]
    staff_list = await s.ListAttachments(tickets_pb2.ListAttachmentsRequest(ticket_id=ticket.id), metadata=staff)
    assert len(staff_list.attachments) == 3
    get_ok = tickets_pb2.GetAttachmentRequest(ticket_id=ticket.id, attachment_id=ok.id)
    got, data = await download(s, get_ok, alice)
    assert data == PNG and got.id == ok.id
    for md, att_id in ((alice, hidden.id), (carol, ok.id)):
        code, _ = await code_of(
            download(s, tickets_pb2.GetAttachmentRequest(ticket_id=ticket.id, attachment_id=att_id), md)
        )
        assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await code_of(s.AddAttachment(add("x.txt", b"hi"), metadata=carol))
    assert code == grpc.StatusCode.NOT_FOUND

    await s.CloseTicket(tickets_pb2.CloseTicketRequest(ticket_id=ticket.id), metadata=alice)
    code, details = await code_of(s.AddAttachment(add("late.txt", b"too late"), metadata=alice))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "closed" in details


async def test_get_by_attachment_id_alone(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    carol = served.keys.metadata(principals.portal("cust-b", "contact-b", permissions=ALL))
    new = tickets_pb2.CreateTicketRequest(subject="S", description="D")
    ticket = (await s.CreateTicket(new, metadata=alice)).ticket
    other = (await s.CreateTicket(new, metadata=alice)).ticket
    att = (await s.AddAttachment(upload(ticket.id, "a.txt", b"hello"), metadata=alice)).attachment
    _, data = await download(s, tickets_pb2.GetAttachmentRequest(attachment_id=att.id), alice)
    assert data == b"hello"
    for md, ticket_id in ((carol, ""), (alice, other.id)):
        req = tickets_pb2.GetAttachmentRequest(attachment_id=att.id, ticket_id=ticket_id)
        assert (await code_of(download(s, req, md)))[0] == grpc.StatusCode.NOT_FOUND


async def test_images_get_a_png_thumbnail(served, principals) -> None:  # noqa: ANN001
    import io

    from PIL import Image

    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="S", description="D"), metadata=alice)
    ).ticket
    buf = io.BytesIO()
    Image.new("RGB", (1200, 600), (200, 30, 30)).save(buf, format="JPEG")
    att = (await s.AddAttachment(upload(ticket.id, "photo.jpg", buf.getvalue(), chunk=1000), metadata=alice)).attachment
    assert att.has_thumbnail and att.content_type == "image/jpeg"
    want = tickets_pb2.GetAttachmentRequest(attachment_id=att.id, thumbnail=True)
    _, thumb = await download(s, want, alice)
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "PNG" and img.size == (240, 120)
    # A broken image is still stored (its bytes start right) but gets no preview; text never has one.
    for req in (upload(ticket.id, "b.png", PNG), upload(ticket.id, "n.txt", b"notes")):
        other = (await s.AddAttachment(req, metadata=alice)).attachment
        assert not other.has_thumbnail
        code, _ = await code_of(
            download(s, tickets_pb2.GetAttachmentRequest(attachment_id=other.id, thumbnail=True), alice)
        )
        assert code == grpc.StatusCode.NOT_FOUND


async def test_the_stream_itself_is_checked(served, principals) -> None:  # noqa: ANN001
    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="S", description="D"), metadata=alice)
    ).ticket
    chunk_first = [tickets_pb2.AddAttachmentRequest(chunk=b"hello")]
    meta = tickets_pb2.AddAttachmentRequest(metadata=tickets_pb2.AttachmentUpload(ticket_id=ticket.id, filename="a"))
    for stream in ([], chunk_first, [meta, tickets_pb2.AddAttachmentRequest(chunk=b"hi"), meta]):
        code, details = await code_of(s.AddAttachment(stream, metadata=alice))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "upload" in details, details
    # Text that stops being text past its first chunks is refused as it streams, and nothing stays stored.
    text = b"a line\n" * 12_000  # past the 64 KiB head the type is decided from; under the 100,000 byte limit
    bad = upload(ticket.id, "log.txt", text + b"\x00MZ", chunk=10_000)
    code, details = await code_of(s.AddAttachment(bad, metadata=alice))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not plain text" in details
    # A file spread over many chunks comes back whole.
    big = bytes(range(256)) * 350
    pdf = upload(ticket.id, "scan.pdf", b"%PDF-1.7\n" + big, chunk=10_000)
    att = (await s.AddAttachment(pdf, metadata=alice)).attachment
    _, data = await download(s, tickets_pb2.GetAttachmentRequest(attachment_id=att.id), alice)
    assert data == b"%PDF-1.7\n" + big and att.size_bytes == len(data)


async def test_a_retried_upload_with_its_key_answers_the_first(served, principals, tmp_path) -> None:  # noqa: ANN001
    from servicekit.blobs import LocalBlobStore

    s = served.stub
    alice = served.keys.metadata(principals.portal("cust-a", "contact-a", permissions=ALL))
    bob = served.keys.metadata(principals.portal("cust-a", "contact-b", permissions=ALL, subject_id="user-bob"))
    ticket = (
        await s.CreateTicket(tickets_pb2.CreateTicketRequest(subject="S", description="D"), metadata=alice)
    ).ticket
    first = (
        await s.AddAttachment(upload(ticket.id, "a.txt", b"once", idempotency_key="k-1"), metadata=alice)
    ).attachment
    again = (
        await s.AddAttachment(upload(ticket.id, "a.txt", b"once", idempotency_key="k-1"), metadata=alice)
    ).attachment
    assert again.id == first.id
    # Another uploader's key is its own; no key is always a new file.
    other = (await s.AddAttachment(upload(ticket.id, "a.txt", b"once", idempotency_key="k-1"), metadata=bob)).attachment
    plain = (await s.AddAttachment(upload(ticket.id, "a.txt", b"once"), metadata=alice)).attachment
    assert len({first.id, other.id, plain.id}) == 3
    assert len(await LocalBlobStore(tmp_path / "blobs").keys()) == 3
    code, details = await code_of(
        s.AddAttachment(upload(ticket.id, "a.txt", b"x", idempotency_key="k" * 201), metadata=alice)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "idempotency key" in details
