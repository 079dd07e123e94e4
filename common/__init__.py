"""Email Operations' shared code, in three layers: ``models`` (the contract's shapes, errors and
settings), ``logic`` (what the service does) and ``adapters`` (the only code that touches AWS)."""
