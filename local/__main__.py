"""``python -m local``: the local stack and its helpers.

python -m local run                 # the whole service on 127.0.0.1 (make run)
python -m local token acme.com ...  # a dev JWT for those domains (make token)
python -m local demo                # drive a running stack (make demo)
python -m local sent                # what the embedded SES accepted (make sent)
python -m local build               # sam validate + sam build (make build)
python -m local deploy-check        # quotas and the permissions report (make deploy-check)

``token``, ``demo`` and ``sent`` talk to the stack ``run`` started: they read
the same ``EMAILOPS_*`` variables (ports, secret, template parameters), and,
when no port variable is set, the ports a ``make run`` of this checkout
recorded in ``.local-stack.json`` while it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from local.httpd import PortInUse
from local.runtime import ConfigurationError, LocalLogFormatter
from local.stack import LocalStack, Settings
from local.template import ROOT
from local.tokens import DEFAULT_TTL_SECONDS, mint, template_rules

DEMO_DOMAINS = ["acme.com", "beta.io"]
# Where `make run` (python -m local run --record) says which ports it listens on, while it runs.
RECORD = ROOT / ".local-stack.json"
PORT_VARIABLES = ("EMAILOPS_API_PORT", "EMAILOPS_LAMBDA_PORT", "EMAILOPS_AWS_PORT")


def record_ports(settings: Settings, path: Path = RECORD) -> None:
    ports = {"api_port": settings.api_port, "lambda_port": settings.lambda_port, "aws_port": settings.aws_port}
    path.write_text(json.dumps({"pid": os.getpid(), **ports}) + "\n", encoding="utf-8")


def forget_ports(path: Path = RECORD) -> None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if record.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def client_settings(env: Mapping[str, str] | None = None, record: Path = RECORD) -> tuple[Settings, str]:
    """The settings a client of the running stack uses, and where its ports
    came from: the ``EMAILOPS_*_PORT`` variables when any is set (as for
    ``make run``), else the record of a ``make run`` still running, else the
    defaults."""
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    if any(env.get(name) for name in PORT_VARIABLES):
        return settings, "the EMAILOPS_*_PORT variables"
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return settings, "the default ports"
    if not isinstance(recorded, dict) or not _alive(recorded.get("pid")):
        return settings, "the default ports"
    try:
        api, lambda_, aws = (int(recorded[key]) for key in ("api_port", "lambda_port", "aws_port"))
    except (KeyError, TypeError, ValueError):
        return settings, "the default ports"
    ports = dataclasses.replace(settings, api_port=api, lambda_port=lambda_, aws_port=aws)
    return ports, f"the running `make run` ({record.name})"


def _run(args: argparse.Namespace) -> int:
    console = logging.StreamHandler()
    console.setFormatter(LocalLogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[console])
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Handled from the start, so that Ctrl-C while starting also stops cleanly.
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C ends at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = LocalStack(settings)
    try:
        stack.start()
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.record:
        record_ports(settings)
    try:
        if not stopping.is_set():
            print(banner(stack, recorded=args.record), flush=True)
        while not stopping.wait(0.5):
            pass
        print("\nStopping...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)
    finally:
        if args.record:
            forget_ports()
    return 0


def banner(stack: LocalStack, *, recorded: bool = False) -> str:
    s = stack.settings
    token = mint(DEMO_DOMAINS, secret=s.secret, rules=stack.jwt_rules)
    lines = ["", "Email Operations is running on this machine (everything read from template.yaml).", ""]
    lines.append(f"  HTTP API        {s.api_url}")
    if stack.http_api is not None:
        lines += [f"                    {route}" for route in stack.http_api.describe()]
    lines.append(f"  Lambda Invoke   {s.lambda_url}   functions: {', '.join(stack.functions)}")
    lines.append(
        f"  Embedded AWS    {s.aws_endpoint}   what SES sent: make sent, or {s.aws_endpoint}/moto-api/data.json"
    )
    for poller in stack.queue_pollers:
        src = poller.source
        lines.append(f"  Queue           {src.queue_name} -> {src.function} (batch size {src.batch_size})")
    for sp in stack.schedule_pollers:
        sch = sp.schedule
        lines.append(
            f"  Schedule        {sch.function}: {sch.expression} in the template,"
            f" every {sp.interval_seconds} s here (EMAILOPS_SCHEDULE_SECONDS)"
        )
    rate = f"{s.ses_max_send_rate:g} emails a second" if s.ses_max_send_rate > 0 else "none"
    lines.append(f"  SES send rate   {rate} (EMAILOPS_SES_MAX_SEND_RATE)")
    if s.ses_faults.active:
        lines.append(f"  SES faults      SendEmail refused: {s.ses_faults.describe()} (EMAILOPS_SES_FAULTS)")
    if s.parameters:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(s.parameters.items()))
        lines.append(f"  Parameters      {overrides} (EMAILOPS_PARAM_*)")
    enqueue = (
        '{"type":"escalation","domain":"acme.com","to":"owner@acme.com",'
        '"subject":"A visitor rang the bell","body_text":"Someone is waiting in the chat."}'
    )
    lines += [
        "",
        f"The Email Operations page, signed in for {' and '.join(DEMO_DOMAINS)}:",
        f"  {page_url(s.api_url, token)}",
        "",
        f'A token for {" ".join(DEMO_DOMAINS)} (12 h; make token DOMAINS="..." TTL=<seconds> for others):',
        f"  {token}",
        "",
        f"The demo, from another terminal: {'make demo' if recorded else client_command(s, 'make demo')}",
        "",
        "Try it (from another terminal): queue an email, then read the log until it is sent:",
        f"  curl -s -X POST {s.lambda_url}/2015-03-31/functions/EnqueueFunction/invocations -d {shlex.quote(enqueue)}",
        f'  curl -s -H "Authorization: Bearer {token}" "{s.api_url}/jobs?domain=acme.com"',
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def client_command(settings: Settings, command: str) -> str:
    """``command`` as another terminal must type it to reach this stack: with
    its ports when they are not the defaults (a stack that does not record
    them in ``.local-stack.json``)."""
    defaults = Settings()
    ports = [
        f"{name}={value}"
        for name, value, default in zip(
            PORT_VARIABLES,
            (settings.api_port, settings.lambda_port, settings.aws_port),
            (defaults.api_port, defaults.lambda_port, defaults.aws_port),
            strict=True,
        )
        if value != default
    ]
    return " ".join([*ports, command])


def page_url(api_url: str, token: str) -> str:
    """The page, signed in: the token in the fragment, which the browser never
    sends; the page takes it from there and removes it from the address bar."""
    return f"{api_url}/#token={token}"


def _token(args: argparse.Namespace) -> int:
    domains = [d for chunk in args.domains for d in chunk.split()]
    if not domains:
        print('error: name at least one domain, e.g. make token DOMAINS="acme.com beta.io"', file=sys.stderr)
        return 2
    if args.ttl <= 0:
        print(f"error: TTL={args.ttl}: the token's lifetime is a positive number of seconds", file=sys.stderr)
        return 2
    try:
        settings, _ = client_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The stack's secret, issuer and audience (EMAILOPS_DEV_JWT_SECRET, EMAILOPS_PARAM_*), as `make run` has them.
    rules = template_rules(dict(settings.parameters))
    token = mint(domains, secret=settings.secret, rules=rules, subject=args.sub, ttl_seconds=args.ttl)
    print(page_url(settings.api_url, token) if args.url else token)
    return 0


def _demo(_: argparse.Namespace) -> int:
    from local.demo import main  # noqa: PLC0415 - only this command needs it

    try:
        settings, source = client_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return main(settings, source)


def _sent(_: argparse.Namespace) -> int:
    from local.demo import print_sent  # noqa: PLC0415 - only this command needs it

    try:
        settings, source = client_settings()
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return print_sent(settings, source)


def _build(args: argparse.Namespace) -> int:
    from local.build import main  # noqa: PLC0415 - only this command needs it

    return main(sam=args.sam)


def _deploy_check(args: argparse.Namespace) -> int:
    from local.deploy_check import main  # noqa: PLC0415 - only this command needs it

    return main(permissions=args.permissions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="the whole service on 127.0.0.1, until Ctrl-C")
    run.add_argument(
        "--record", action="store_true", help=f"write the ports to {RECORD.name} while it runs, for token, demo, sent"
    )
    run.set_defaults(func=_run)
    token = commands.add_parser("token", help="print a dev JWT for the domains named")
    token.add_argument("domains", nargs="*", help='domains (or "*"), space-separated')
    token.add_argument("--sub", default="local-admin", help="the token's subject")
    token.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds until it expires (default 12 h)")
    token.add_argument("--url", action="store_true", help="print the page's URL signed in with it instead")
    token.set_defaults(func=_token)
    commands.add_parser(
        "demo", help="send one email of each type and a bulk send through a running stack"
    ).set_defaults(func=_demo)
    commands.add_parser("sent", help="list what the embedded SES of a running stack accepted").set_defaults(func=_sent)
    build = commands.add_parser("build", help="sam validate --lint, sam build, and the host build the tests import")
    build.add_argument("--sam", default="sam", help="the sam executable")
    build.set_defaults(func=_build)
    check = commands.add_parser(
        "deploy-check", help="CloudFormation's and IAM's quotas, and the permissions report of the last test run"
    )
    check.add_argument("--permissions", type=Path, default=None, help="where the tests recorded the calls checked")
    check.set_defaults(func=_deploy_check)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args = parser.parse_args(["run", *(argv or [])])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
