"""Models: the contract's fields, limits and formats (``job``, ``api``), the domain's exceptions
(``errors``) and each function's settings (``settings``). No AWS here."""
