"""The functions' botocore data loader (common.adapters.service_data) against
botocore's own: the same data, in the same order, the same services known, the
same clients."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from common.adapters import aws
from common.adapters.service_data import KnownServices, PlainJSONFileLoader, ServiceDataLoader, use_for
from local import iam

# Every service a function makes a client of (common.adapters.aws).
SERVICES = ("dynamodb", "sqs", "s3", "sesv2", "secretsmanager")
TYPES = ("service-2", "endpoint-rule-set-1")


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


def _ordered(value: Any) -> Any:
    """``value`` with every mapping a list of its (key, value) pairs: equal only in the same order."""
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def _contains_ordered_dict(value: Any) -> bool:
    if isinstance(value, OrderedDict):
        return True
    if isinstance(value, dict):
        return any(_contains_ordered_dict(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_ordered_dict(item) for item in value)
    return False


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", TYPES)
def test_a_service_model_is_botocores_in_the_same_order_in_plain_dicts(service: str, type_name: str) -> None:
    theirs = Loader().load_service_model(service, type_name)
    ours = ServiceDataLoader().load_service_model(service, type_name)
    assert _ordered(ours) == _ordered(theirs)
    assert not _contains_ordered_dict(ours)


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_the_shared_data_is_botocores_in_the_same_order(name: str) -> None:
    theirs, their_path = Loader().load_data_with_path(name)
    ours, our_path = ServiceDataLoader().load_data_with_path(name)
    assert our_path == their_path
    assert _ordered(ours) == _ordered(theirs)


def test_a_json_file_is_read_before_a_gzipped_one_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"b": 1, "a": {"d": 2, "c": 3}}', encoding="utf-8")
    loaded = PlainJSONFileLoader().load_file(str(tmp_path / "model"))
    assert type(loaded) is dict
    assert list(loaded) == ["b", "a"]
    assert list(loaded["a"]) == ["d", "c"]
    assert PlainJSONFileLoader().load_file(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("type_name", TYPES)
def test_the_services_known_are_botocores(type_name: str) -> None:
    theirs = Loader().list_available_services(type_name)
    known = ServiceDataLoader().list_available_services(type_name)
    assert isinstance(known, KnownServices)
    assert list(known) == theirs
    assert len(known) == len(theirs)
    assert known[0] == theirs[0]
    assert all(service in known for service in theirs)


@pytest.mark.parametrize("name", ["nope", "DynamoDB", "dynamodb/2012-08-10", ".", "..", "", "../data", 3])
def test_what_botocore_does_not_list_is_not_known(name: Any) -> None:
    assert name not in Loader().list_available_services("service-2")
    assert name not in ServiceDataLoader().list_available_services("service-2")


def test_an_unknown_service_is_refused_as_botocore_refuses_it() -> None:
    with pytest.raises(UnknownServiceError, match=r"Unknown service: 'nope'\. Valid service names are: .*dynamodb"):
        use_for(botocore.session.get_session()).create_client("nope")


def test_looking_one_service_up_lists_no_others(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = ServiceDataLoader()

    def listed(*_: Any, **__: Any) -> list[str]:
        raise AssertionError("every service listed")

    monkeypatch.setattr(Loader, "list_available_services", listed)
    assert loader.load_service_model("dynamodb", "service-2")["metadata"]["endpointPrefix"] == "dynamodb"


def test_data_path_is_searched_first_as_botocore_searches_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "endpoints.json").write_text('{"partitions": [], "version": 3}', encoding="utf-8")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = use_for(botocore.session.get_session())
    loader = session.get_component("data_loader")
    assert isinstance(loader, ServiceDataLoader)
    assert loader.search_paths[0] == str(tmp_path)
    assert loader.load_data("endpoints") == {"partitions": [], "version": 3}


class _Sent(Exception):
    """A request caught before it leaves: its URL and the scope it was signed for."""

    def __init__(self, url: str, scope: str) -> None:
        super().__init__(url)
        self.url, self.scope = url, scope


def _request(client: Any, operation: str) -> _Sent:
    def catch(request: Any, **_: Any) -> None:
        credential = request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]
        raise _Sent(request.url, credential.split("/", 2)[2])  # date/region/service/aws4_request

    client.meta.events.register("before-send", catch)
    with pytest.raises(_Sent) as sent:
        getattr(client, operation)()
    return sent.value


# One call each, without parameters.
OPERATIONS = {
    "dynamodb": "list_tables",
    "sqs": "list_queues",
    "s3": "list_buckets",
    "sesv2": "get_account",
    "secretsmanager": "list_secrets",
}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize("service", SERVICES)
def test_the_functions_clients_are_the_clients_botocore_makes(
    service: str, region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ours = use_for(botocore.session.get_session()).create_client(service, region_name=region)
    theirs = botocore.session.get_session().create_client(service, region_name=region)
    assert ours.meta.endpoint_url == theirs.meta.endpoint_url
    assert ours.meta.partition == theirs.meta.partition
    assert ours.meta.service_model.metadata == theirs.meta.service_model.metadata
    assert ours.meta.service_model.operation_names == theirs.meta.service_model.operation_names
    sent, expected = _request(ours, OPERATIONS[service]), _request(theirs, OPERATIONS[service])
    assert (sent.url, sent.scope) == (expected.url, expected.scope)
    assert region in sent.scope


def test_the_functions_session_loads_with_it() -> None:
    assert isinstance(aws.session().get_component("data_loader"), ServiceDataLoader)


def test_the_iam_check_runs_on_clients_loaded_this_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack's and the tests' permission check (``add_session_hook``) sees every call of
    a client whose models came from this loader, and denies it with that model's own exception."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.add_session_hook(iam.ENFORCER.install)
    client = aws.dynamodb()
    assert isinstance(aws.session().get_component("data_loader"), ServiceDataLoader)
    previous = iam.ENFORCER.activate(None)  # no role loaded: every call of a function is denied
    before = len(iam.ENFORCER.unconfigured)
    try:
        with iam.running_as("SweeperFunction"), pytest.raises(client.exceptions.ClientError) as denied:
            client.get_item(TableName="jobs", Key={"pk": {"S": "x"}})
    finally:
        iam.ENFORCER.activate(previous)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    # The denial is this test's own: taken back off the list conftest checks after each test.
    assert iam.ENFORCER.unconfigured[before:] == ["SweeperFunction: dynamodb GetItem"]
    del iam.ENFORCER.unconfigured[before:]
