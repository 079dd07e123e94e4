"""AWS's own limits, enforced by the embedded AWS (moto) where moto does not
enforce them by itself: so what works here works on AWS.

``apply()`` patches moto's backends in this process, once: both the tests'
in-process ``mock_aws`` (``tests/conftest.py`` applies it when the tests are
collected) and the local stack's moto server (``local.stack`` applies it
before it serves) then answer as AWS does, every client alike, the tests' own
set-up included. What is enforced, and each limit's source:
``local.limits.dynamodb``, ``local.limits.sqs``, ``local.limits.sesv2``, and
docs/local-stack.md ("AWS's limits, enforced here"). Lambda's payload limits
are the local Invoke API's (``local.lambda_api``); SES's sending rate is the
local stack's WSGI layer's (``local.ses``).

They patch moto 5.2.5's internals (pinned in requirements-dev.txt);
``tests/integration/test_aws_limits.py`` shows each limit, so an upgrade that
breaks one fails ``make test``.
"""

from __future__ import annotations

import threading

from local.limits import dynamodb, sesv2, sqs

_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Enforce AWS's limits in this process's embedded AWS (idempotent)."""
    global _applied  # noqa: PLW0603 - a process-wide patch, applied once
    with _lock:
        if _applied:
            return
        dynamodb.apply()
        sqs.apply()
        sesv2.apply()
        _applied = True
