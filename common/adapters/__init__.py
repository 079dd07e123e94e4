"""Adapters: the only code that touches AWS (DynamoDB, SQS, SES, S3, Secrets Manager), the HTTP
API's edge, and logging, tracing and metrics."""
