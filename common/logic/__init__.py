"""Domain logic: enqueueing, bulk sends, listing, sending, sweeping, and the pure helpers they share
(index keys, recipients, plain text, pacing, time). AWS is reached only through ``common.adapters``."""
