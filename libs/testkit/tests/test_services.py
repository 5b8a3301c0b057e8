import asyncio
import smtplib

import nats

from portal_local.mailcatcher import MailCatcher
from portal_local.nats import NatsServer
from portal_local.stack import Stack


async def test_nats_server_fixture_dedups_and_keeps_streams_over_restart(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(name="TESTKIT", subjects=["testkit.>"])
    acks = [await js.publish("testkit.x.v1", b"x", headers={"Nats-Msg-Id": "same"}) for _ in range(2)]
    assert [bool(a.duplicate) for a in acks] == [False, True]
    await nc.close()

    nats_server.stop()
    nats_server.start()
    nc = await nats.connect(nats_server.url)
    assert (await nc.jetstream().stream_info("TESTKIT")).state.messages == 1
    await nc.close()


def test_smtp_catcher_fixture(smtp_catcher: MailCatcher) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_catcher.smtp_port, timeout=5) as smtp:
        smtp.sendmail("portal@example.test", ["x@y.test"], b"Subject: hi\r\n\r\nbody")
    assert smtp_catcher.wait_for(to="x@y.test").text.strip() == "body"


def test_stack_fixture_exposes_addresses(stack: Stack) -> None:
    assert stack.nats is not None and stack.nats.is_ready()
    assert stack.addresses["mail"] == stack.mail_url
    assert stack.nats_url == f"nats://127.0.0.1:{stack.ports['nats']}"


async def test_session_async_fixtures_share_the_test_loop(session_loop: asyncio.AbstractEventLoop) -> None:
    assert asyncio.get_running_loop() is session_loop


async def test_session_async_fixtures_share_the_test_loop_again(session_loop: asyncio.AbstractEventLoop) -> None:
    assert asyncio.get_running_loop() is session_loop
