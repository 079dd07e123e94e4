"""The one place that makes Logger, Tracer and Metrics.

Never log an email body, a token or a whole event: log ids, counts and codes.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# The functions make no HTTP calls but AWS SDK calls: patching botocore alone
# traces every one of them, and spares each cold start the X-Ray SDK's search
# for, and patching of, every other library it supports (docs/benchmarks.md).
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
