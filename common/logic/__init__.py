"""Domain logic: enqueueing, bulk sends, listing, sending, sweeping, and the pure helpers they share
(recipients, plain text, pacing, signing). AWS is reached only through ``common.adapters``, whose index
keys (``common.adapters.index_keys``) the listing plans its Queries with; time is ``common.models.clock``."""
