"""Models: the contract's fields, limits and formats (``job``, with the requests
in ``requests`` and the admin API's shapes in ``api``), the domain's exceptions
(``errors``) and each function's settings (``settings``, the admin API's in
``api_settings``). No AWS here."""
