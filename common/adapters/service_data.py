"""botocore's data loader, without two costs of a first client that buy the
functions nothing (docs/adr/0073-botocore-data-loader.md). The data is botocore's own,
from the same folders; only the way it is read changes:

- **Plain dicts.** botocore reads its JSON (each service's model and endpoint
  rule set, and its 1.2 MB ``endpoints.json``) with ``OrderedDict`` as the
  parser's object hook, which makes ``endpoints.json`` take about 22 ms to
  parse instead of 6 (Python 3.13). A ``dict`` keeps its keys' order too, and
  nothing botocore does with the data needs an ``OrderedDict``'s own methods.
- **One service looked up, not all of them.** Before it loads a service's
  model or rule set, botocore lists every service it ships (over 400 folders,
  each listed, once per kind of file) only to check that the one asked for is
  among them: about 17 ms. Here that check looks in the one service's folder;
  the full list is still made when anything reads it (the message of botocore's
  ``UnknownServiceError``, ``Session.get_available_services``).

``tests/unit/test_service_data.py`` holds both against botocore's own loader.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, overload

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader
from botocore.session import Session

# botocore's own order: a .json file before a .json.gz of the same name.
_OPENERS: tuple[tuple[str, Any], ...] = ((".json", open), (".json.gz", gzip.open))


class PlainJSONFileLoader(JSONFileLoader):
    """``JSONFileLoader`` that makes plain dicts."""

    def load_file(self, file_path: str) -> Any:
        for suffix, opener in _OPENERS:
            full_path = file_path + suffix
            if os.path.isfile(full_path):
                with opener(full_path, "rb") as file:
                    return json.loads(file.read().decode("utf-8"))
        return None


class KnownServices(Sequence[str]):
    """The services of one kind of file botocore knows, as its loader lists them
    (sorted), with ``in`` answered from the one service's folder."""

    def __init__(self, loader: ServiceDataLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, name: object) -> bool:
        # Only a folder's own name can be listed: no path, no "." or "..".
        if not isinstance(name, str) or name in ("", ".", "..") or os.sep in name or (os.altsep or os.sep) in name:
            return False
        try:
            return bool(self._loader.list_api_versions(name, self._type_name))
        except DataNotFoundError:
            return False

    def _all(self) -> list[str]:
        return self._loader.all_services(self._type_name)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __repr__(self) -> str:
        return f"KnownServices({self._type_name!r})"


class ServiceDataLoader(Loader):
    """botocore's ``Loader`` over the same search paths, reading plain dicts and
    checking a service by its own folder."""

    FILE_LOADER_CLASS = PlainJSONFileLoader

    def list_available_services(self, type_name: str) -> KnownServices:  # type: ignore[override]
        return KnownServices(self, type_name)

    def all_services(self, type_name: str) -> list[str]:
        """botocore's full, sorted list (every folder of every search path looked at)."""
        listed: list[str] = super().list_available_services(type_name)
        return listed


def use_for(session: Session) -> Session:
    """Make ``session`` load its data with ``ServiceDataLoader``, honouring
    ``AWS_DATA_PATH`` (the session's ``data_path``) as botocore's own loader does."""

    extra = session.get_config_variable("data_path")
    paths = None if extra is None else [os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)]
    session.register_component("data_loader", ServiceDataLoader(extra_search_paths=paths))
    return session
