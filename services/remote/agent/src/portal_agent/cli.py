"""The `portal-agent` command: `enrol`, `run` and `status` (docs/remote.md, "Installing the agent").

Exit codes: 0 done (or stopped by SIGTERM/SIGINT); 1 the server could not be reached or failed; 2 refused or bad
state (token refused, already enrolled, not enrolled, the broker does not know the agent); 3 the agent was revoked.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.remote.v1 import agent_pb2, agent_pb2_grpc
from portal_agent import __version__, state
from portal_agent.agent import CHANNEL_OPTIONS, Agent, channel_credentials, os_family

log = logging.getLogger("portal_agent")

EXIT_OK, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_REVOKED = 0, 1, 2, 3
ENROL_TIMEOUT_SECONDS = 20.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal-agent", description="The portal's device agent (remote service).")
    parser.add_argument("--version", action="version", version=f"portal-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def state_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="where agent.json and agent.key live (default: $PORTAL_AGENT_STATE_DIR or ~/.portal-agent)",
        )

    enrol = sub.add_parser("enrol", help="enrol this device with a one-time token from the portal's staff")
    enrol.add_argument("--server", required=True, help="the remote service's agent endpoint, HOST:PORT")
    enrol.add_argument("--token", required=True, help="the one-time enrolment token")
    state_dir(enrol)
    enrol.add_argument("--insecure", action="store_true", help="no TLS (loopback development and tests only)")
    enrol.add_argument("--ca-file", default="", help="PEM file of the CA that signed the server's certificate")
    enrol.add_argument("--force", action="store_true", help="replace an existing enrolment in the state directory")

    run = sub.add_parser("run", help="connect and run the commands the portal sends, until stopped")
    state_dir(run)

    status = sub.add_parser("status", help="print the agent id, asset id and server this device is enrolled as")
    state_dir(status)
    return parser


def _fail(code: int, message: str) -> int:
    print(f"portal-agent: {message}", file=sys.stderr)
    return code


def enrol(args: argparse.Namespace) -> int:
    state_dir: Path = (args.state_dir or state.default_state_dir()).expanduser().absolute()
    if state.is_enrolled(state_dir) and not args.force:
        return _fail(
            EXIT_REFUSED, f"already enrolled (state in {state_dir}); use --force to enrol again with a new token"
        )
    if ":" not in args.server:
        return _fail(EXIT_REFUSED, f"--server must be HOST:PORT, not {args.server!r}")
    ca_file = str(Path(args.ca_file).expanduser().absolute()) if args.ca_file else ""
    if args.insecure and ca_file:
        return _fail(EXIT_REFUSED, "--insecure and --ca-file exclude each other")
    try:
        credentials = channel_credentials(args.insecure, ca_file)
    except OSError as e:
        return _fail(EXIT_REFUSED, f"cannot read --ca-file {ca_file}: {e.strerror}")
    # The token is spent by the call whatever follows: make sure the state can be written first.
    try:
        state.make_state_dir(state_dir)
        if not os.access(state_dir, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        return _fail(EXIT_REFUSED, f"cannot write the state to {state_dir}: {e.strerror}")
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    request = agent_pb2.EnrolRequest(
        token=args.token, public_key=public, hostname=socket.gethostname(), os=os_family(), agent_version=__version__
    )
    if credentials is None:
        channel = grpc.insecure_channel(args.server, options=CHANNEL_OPTIONS)
    else:
        channel = grpc.secure_channel(args.server, credentials, options=CHANNEL_OPTIONS)
    with channel:
        try:
            response = agent_pb2_grpc.AgentServiceStub(channel).Enrol(request, timeout=ENROL_TIMEOUT_SECONDS)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return _fail(
                    EXIT_REFUSED,
                    "the server refused the token (unknown, already used, expired or revoked): "
                    "ask for a new enrolment token",
                )
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return _fail(EXIT_UNREACHABLE, f"cannot reach {args.server}: {e.details()}")
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                return _fail(EXIT_REFUSED, f"the server refused the request: {e.details()}")
            return _fail(EXIT_UNREACHABLE, f"enrolment failed: {code.name} {e.details() or ''}")
    if len(response.command_public_key) != 32 or not response.agent_id:
        return _fail(EXIT_UNREACHABLE, "the server's answer is incomplete (no agent id or command key)")
    saved = state.AgentState(
        agent_id=response.agent_id,
        asset_id=response.asset_id,
        server=args.server,
        insecure=bool(args.insecure),
        ca_file=ca_file,
        command_public_key=base64.b64encode(response.command_public_key).decode(),
    )
    try:
        state.save(state_dir, saved, key)
    except OSError as e:
        return _fail(EXIT_UNREACHABLE, f"cannot write the state to {state_dir}: {e.strerror}")
    print(f"enrolled: agent {saved.agent_id} for asset {saved.asset_id}; state in {state_dir}")
    print(f"start it with: portal-agent run --state-dir {state_dir}")
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    state_dir: Path = (args.state_dir or state.default_state_dir()).expanduser().absolute()
    try:
        saved = state.load(state_dir)
    except state.StateError as e:
        return _fail(EXIT_REFUSED, str(e))
    tls = "none (--insecure)" if saved.insecure else (f"CA {saved.ca_file}" if saved.ca_file else "system CAs")
    print(f"agent id:  {saved.agent_id}")
    print(f"asset id:  {saved.asset_id}")
    print(f"server:    {saved.server}")
    print(f"tls:       {tls}")
    print(f"state dir: {state_dir}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    state_dir: Path = (args.state_dir or state.default_state_dir()).expanduser().absolute()
    try:
        saved = state.load(state_dir)
        key = state.load_key(state_dir)
        agent = Agent(saved, key)
    except state.StateError as e:
        return _fail(EXIT_REFUSED, str(e))
    except (OSError, ValueError) as e:
        return _fail(EXIT_REFUSED, f"the state in {state_dir} is unusable: {type(e).__name__}")
    logging.basicConfig(
        level=os.environ.get("PORTAL_AGENT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s portal-agent %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    log.info("portal-agent %s starting: agent %s, server %s", __version__, saved.agent_id, saved.server)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C arrives as KeyboardInterrupt
                pass
        return await agent.run(stop)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"enrol": enrol, "run": run, "status": status}[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
