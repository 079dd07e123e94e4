"""``python -m local``: the local stack and its helpers.

python -m local run                 # the whole service on 127.0.0.1 (make run)
python -m local token acme.com ...  # a dev JWT for those domains (make token)
python -m local demo                # drive a running stack (make demo)
python -m local build               # sam validate + sam build (make build)
python -m local deploy-check        # quotas and the permissions report (make deploy-check)
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.httpd import PortInUse
from local.runtime import ConfigurationError, LocalLogFormatter
from local.stack import LocalStack, Settings
from local.tokens import DEFAULT_SECRET, mint, template_rules

DEMO_DOMAINS = ["acme.com", "beta.io"]


def _run(_: argparse.Namespace) -> int:
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
    if not stopping.is_set():
        print(banner(stack), flush=True)
    while not stopping.wait(0.5):
        pass
    print("\nStopping...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return 0


def banner(stack: LocalStack) -> str:
    s = stack.settings
    token = mint(DEMO_DOMAINS, secret=s.secret, rules=stack.jwt_rules)
    lines = ["", "Email Operations is running on this machine (everything read from template.yaml).", ""]
    lines.append(f"  HTTP API        {s.api_url}")
    if stack.http_api is not None:
        lines += [f"                    {route}" for route in stack.http_api.describe()]
    lines.append(f"  Lambda Invoke   {s.lambda_url}   functions: {', '.join(stack.functions)}")
    lines.append(f"  Embedded AWS    {s.aws_endpoint}   what SES sent: {s.aws_endpoint}/moto-api/")
    for poller in stack.queue_pollers:
        src = poller.source
        lines.append(f"  Queue           {src.queue_name} -> {src.function} (batch size {src.batch_size})")
    for sp in stack.schedule_pollers:
        sch = sp.schedule
        lines.append(
            f"  Schedule        {sch.function}: {sch.expression} in the template,"
            f" every {sp.interval_seconds} s here (EMAILOPS_SCHEDULE_SECONDS)"
        )
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
        f'A token for {" ".join(DEMO_DOMAINS)} (12 h; make token DOMAINS="..." for others):',
        f"  {token}",
        "",
        "Try it (from another terminal): queue an email, then read the log until it is sent:",
        f"  curl -s -X POST {s.lambda_url}/2015-03-31/functions/EnqueueFunction/invocations -d {shlex.quote(enqueue)}",
        f'  curl -s -H "Authorization: Bearer {token}" "{s.api_url}/jobs?domain=acme.com"',
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def page_url(api_url: str, token: str) -> str:
    """The page, signed in: the token in the fragment, which the browser never
    sends; the page takes it from there and removes it from the address bar."""
    return f"{api_url}/#token={token}"


def _token(args: argparse.Namespace) -> int:
    domains = [d for chunk in args.domains for d in chunk.split()]
    if not domains:
        print('error: name at least one domain, e.g. make token DOMAINS="acme.com beta.io"', file=sys.stderr)
        return 2
    secret = os.environ.get("EMAILOPS_DEV_JWT_SECRET") or DEFAULT_SECRET
    print(mint(domains, secret=secret, rules=template_rules(), subject=args.sub, ttl_seconds=args.ttl))
    return 0


def _demo(_: argparse.Namespace) -> int:
    from local.demo import main  # noqa: PLC0415 - only this command needs it

    return main()


def _build(args: argparse.Namespace) -> int:
    from local.build import main  # noqa: PLC0415 - only this command needs it

    return main(sam=args.sam)


def _deploy_check(args: argparse.Namespace) -> int:
    from local.deploy_check import main  # noqa: PLC0415 - only this command needs it

    return main(permissions=args.permissions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="the whole service on 127.0.0.1, until Ctrl-C").set_defaults(func=_run)
    token = commands.add_parser("token", help="print a dev JWT for the domains named")
    token.add_argument("domains", nargs="*", help='domains (or "*"), space-separated')
    token.add_argument("--sub", default="local-admin", help="the token's subject")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until it expires")
    token.set_defaults(func=_token)
    commands.add_parser(
        "demo", help="send one email of each type and a bulk send through a running stack"
    ).set_defaults(func=_demo)
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
