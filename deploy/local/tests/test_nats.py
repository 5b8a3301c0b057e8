from pathlib import Path

import nats

from portal_local.nats import NatsServer


async def test_jetstream_dedup_and_store_survives_restart(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "store").start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="LOCALTEST", subjects=["localtest.>"])
        first = await js.publish("localtest.created.v1", b"one", headers={"Nats-Msg-Id": "evt-1"})
        again = await js.publish("localtest.created.v1", b"one", headers={"Nats-Msg-Id": "evt-1"})
        assert not first.duplicate and again.duplicate
        assert (await js.stream_info("LOCALTEST")).state.messages == 1
        await nc.close()

        port = server.port
        server.stop()
        assert not server.is_ready()
        server.start()
        assert server.port == port

        nc = await nats.connect(server.url)
        info = await nc.jetstream().stream_info("LOCALTEST")
        assert info.state.messages == 1
        await nc.close()
    finally:
        server.stop()
