"""Models: the contract's fields, limits and formats (``job``, with the requests
in ``requests``), the admin API's edge in ``api`` and what each route family
takes and answers in ``listing``, ``bulk_send`` and ``actions``, the suppression
lists (``suppression``), the domain's exceptions (``errors``) and each
function's settings (``settings``, the worker's in ``worker_settings``, the
admin API's in ``api_settings``). No AWS here."""
