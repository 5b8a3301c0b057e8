"""`python -m portal_local run`: the whole platform on this machine, with demo data, until Ctrl-C.

A process that crashes is restarted with backoff (each exit and restart printed); Ctrl-C, SIGINT or SIGTERM
(SIGHUP too, unless started with it ignored, as by nohup) stops every process, also when started in the
background from a script, where the shell starts it with SIGINT ignored.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from portal_local.ports import PortInUseError
from portal_local.seed import DEMO_CUSTOMERS, DEMO_TECHNICIAN_EMAIL, DEMO_TECHNICIAN_PASSWORD, SeedError, seed_stack
from portal_local.seed.content import CONTENT_CUSTOMER, seed_content
from portal_local.seed.remote import DemoDevicesResult, seed_remote
from portal_local.stack import PORT_SLOTS, PROCESSES, Stack, StackConfig, StackError


def _env_port(var: str, default: int) -> int:
    raw = os.environ.get(var)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"${var} must be a port number, not {raw!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m portal_local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start everything, seed demo data, run until Ctrl-C")
    run.add_argument("--var", type=Path, default=Path("var"), help="data, keys and logs (default ./var)")
    ports = run.add_argument_group("ports (each also settable by the environment variable shown)")
    for slot in PORT_SLOTS:
        ports.add_argument(
            slot.flag,
            dest=f"port_{slot.key}",
            type=int,
            default=_env_port(slot.env_var, slot.default),
            metavar="PORT",
            help=f"{slot.what} (${slot.env_var}, default {slot.default})",
        )
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every process, e.g. IDENTITY_LOG_LEVEL=DEBUG (repeatable)",
    )
    run.add_argument(
        "--only", nargs="+", choices=PROCESSES, metavar="NAME", help=f"start only these: {', '.join(PROCESSES)}"
    )
    run.add_argument("--no-seed", action="store_true", help="do not create demo data")
    run.add_argument("--ready-timeout", type=float, default=90.0, help="seconds to wait for readiness")
    return parser


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _show_supervisor_lines() -> None:
    """The supervisor's exits and restarts in the runner's output, with the time they happened."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s runner: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("portal_local")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run(args: argparse.Namespace) -> int:
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--env expects KEY=VALUE, not {item!r}")
        env[key] = value
    config = StackConfig(
        var_dir=args.var,
        ports={slot.key: getattr(args, f"port_{slot.key}") for slot in PORT_SLOTS},
        env=env,
        processes=args.only or PROCESSES,
        ready_timeout=args.ready_timeout,
        supervise=True,
    )
    stack = Stack(config)
    _show_supervisor_lines()
    # Ctrl-C, SIGTERM (e.g. from make or a process manager) and SIGHUP (the terminal closed) all stop the stack.
    # SIGINT explicitly: a shell starts a background job with SIGINT ignored, and Python then installs no handler.
    # SIGHUP only when not ignored: `nohup make run` means "keep running when the terminal goes".
    for sig in STOP_SIGNALS:
        if sig != signal.SIGHUP or signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, _raise_interrupt)
    began = time.monotonic()
    try:
        print(f"starting {', '.join(stack.enabled)}; logs in {stack.logs_dir}", flush=True)
        stack.start()
        seeded = None
        devices = None
        content = None
        if not args.no_seed and {"identity", "tickets"} <= set(stack.enabled):
            seeded = seed_stack(stack)
            # Demo documents and shared credentials (every run: what exists is kept).
            if {"gateway", "assets"} <= set(stack.enabled):
                content = seed_content(stack)
            # Demo devices with a running agent each, and demo scripts (every run: the agents run with the stack).
            if {"gateway", "assets", "remote"} <= set(stack.enabled):
                devices = seed_remote(stack)
        _print_banner(stack, time.monotonic() - began, seeded is not None and seeded.created, devices, content)
        # The supervisor thread restarts what crashes and prints it; this thread waits for a stop signal.
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except (PortInUseError, StackError, SeedError) as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not leave half the processes running.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        print("stopped", flush=True)


def _print_banner(
    stack: Stack,
    seconds: float,
    seeded_now: bool,
    devices: DemoDevicesResult | None = None,
    content: tuple[int, int] | None = None,
) -> None:
    lines = [
        "",
        f"Portal is up after {seconds:.1f}s.",
        f"  Customer portal   {stack.portal_url}",
        f"  Staff console     {stack.staff_url}",
        f"  Caught mail       {stack.mail_url}/",
        f"  NATS              {stack.nats_url}",
        *([f"  S3 (files)        {stack.s3.endpoint}  bucket {stack.s3.bucket}"] if stack.s3 else []),
        "",
        "Demo logins" + (" (just created):" if seeded_now else ":"),
        f"  staff   {stack.config.staff_email} / {stack.config.staff_password}   (staff console, admin)",
    ]
    if "mailcatcher" in stack.enabled:
        lines.append(f"  staff   {DEMO_TECHNICIAN_EMAIL} / {DEMO_TECHNICIAN_PASSWORD}   (staff console, technician)")
    for demo in DEMO_CUSTOMERS:
        lines.append(f"  portal  {demo.login} / {demo.password}   ({demo.business_name})")
    if content is not None:
        lines += [
            "",
            f"Demo content ({CONTENT_CUSTOMER.business_name}): {content[0]} documents, {content[1]} shared credentials",
        ]
    if devices is not None:
        lines += [
            "",
            f"Demo devices ({devices.customer}, remote access on), each with a running portal-agent:",
            *(f"  {name}" for name in devices.devices),
            f"  agents' endpoint  {stack.agent_addresses[0]}   (state in {stack.var_dir / 'agents'})",
            f"Demo scripts: {', '.join(devices.scripts)}",
        ]
    lines += [
        "",
        f"Data in {stack.var_dir}. A process that crashes is restarted (shown below); press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        sys.exit(run(args))
