"""Adapters: the only code that touches AWS (DynamoDB, SQS, SES, S3, Secrets Manager), the HTTP
API's edge, and logging, tracing and metrics. The jobs table has one small adapter per concern, each
over ``dynamo.TableAdapter`` (``common.adapters.dynamo`` lists them), and its index keys in
``index_keys``. Adapters import models and each other, never the logic above them."""
