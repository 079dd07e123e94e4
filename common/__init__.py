"""Email Operations: models, settings and every adapter to AWS, shared by all functions."""
