"""The one place that makes Logger, Tracer and Metrics.

Never log an email body, a token or a whole event: log ids, counts and codes.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
