"""The cost model's write units: DynamoDB's rules for items and index entries."""

from __future__ import annotations

from benchmarks.cost import Index, item_size, job_writes, units, value_size

TABLE_KEYS = ("pk",)
BY_STATUS = Index("ByStatus", ("status", "job_id"), frozenset({"subject"}))


def _item(**values: str) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in values.items()}


def test_sizes_follow_dynamodbs_rules() -> None:
    # Strings by their UTF-8 bytes, numbers by their significant digits, names count too
    assert value_size({"S": "héllo"}) == 6
    assert value_size({"N": "1000"}) == 2
    assert value_size({"N": "123456"}) == 4
    assert value_size({"L": [{"S": "ab"}, {"BOOL": True}]}) == 3 + 3 + 2
    assert item_size({"pk": {"S": "abc"}, "n": {"N": "7"}}) == 2 + 3 + 1 + 2


def test_a_write_costs_a_unit_per_started_kb() -> None:
    assert units(1) == 1
    assert units(1024) == 1
    assert units(1025) == 2


def test_an_index_entry_appearing_or_disappearing_costs_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s")
    keyless = _item(pk="J", job_id="J", subject="s")

    assert BY_STATUS.writes(None, queued, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, keyless, TABLE_KEYS) == 1
    assert BY_STATUS.writes(None, keyless, TABLE_KEYS) == 0


def test_a_key_change_costs_a_delete_and_a_put_and_a_projected_change_one_write() -> None:
    queued = _item(pk="J", job_id="J", status="queued", subject="s", body="b")
    sending = {**queued, "status": {"S": "sending"}}
    renamed = {**queued, "subject": {"S": "t"}}
    other = {**queued, "body": {"S": "not projected"}}

    assert BY_STATUS.writes(queued, sending, TABLE_KEYS) == 2
    assert BY_STATUS.writes(queued, renamed, TABLE_KEYS) == 1
    assert BY_STATUS.writes(queued, other, TABLE_KEYS) == 0


def test_a_jobs_life_on_the_templates_indexes() -> None:
    # Given a job as created, claimed and sent, with the template's nine indexes
    common = {
        "pk": {"S": "J1"},
        "job_id": {"S": "J1"},
        "domain": {"S": "acme.com"},
        "type": {"S": "manual"},
        "scope": {"S": "all"},
        "domain_type": {"S": "acme.com#manual"},
        "subject": {"S": "Hello"},
        "body_text": {"S": "x" * 100},
    }

    def state(status: str, attempts: str, **more: dict[str, str]) -> dict[str, dict[str, str]]:
        return {
            **common,
            "status": {"S": status},
            "domain_status": {"S": f"acme.com#{status}"},
            "domain_status_type": {"S": f"acme.com#{status}#manual"},
            "status_type": {"S": f"{status}#manual"},
            "attempts": {"N": attempts},
            **more,
        }

    created = state("queued", "0", sweep={"S": "pending"}, due_at={"N": "100"})
    claimed = state("sending", "1", sweep={"S": "pending"}, due_at={"N": "160"})
    sent = state("sent", "1", sent_at={"S": "2026-01-01T00:00:00.000Z"})

    # When its writes are worked out
    writes = job_writes(created, claimed, sent, marker=None)

    # Then a status-keyed index costs 5, another listing index 3, the sweep index 4
    by_index = writes.by_index()
    assert by_index["ByDomainStatus"] == 5
    assert by_index["ByStatusType"] == 5
    assert by_index["ByScope"] == 3
    assert by_index["BySweepDue"] == 4
    assert sum(step.table for step in writes.steps) == 3
    assert writes.total() == 3 + 4 * 5 + 4 * 3 + 4
