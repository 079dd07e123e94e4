"""The paging limits every listing route shares (GET /jobs, GET /suppressions).

A module of its own so that a model using them does not import the API's
request and response models (and what those import) with them."""

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MAX_CURSOR_CHARS = 16_384
