"""Figure 7's capacity model: measured units per key class, mapped onto partition keys with
common.adapters.index_keys."""

from __future__ import annotations

import re

import pytest

from benchmarks.capacity import (
    ClassLoad,
    capacity,
    class_loads,
    key_shares,
    model,
    object_loads,
    polls_per_second,
    printed_lines,
    retry_storm,
    zipf_domains,
)
from benchmarks.ledger import TABLE, KeyUnits, Ledger, Write
from common.adapters import index_keys as keys
from common.models.job import JobStatus


def _write(kind: str, entries: list[tuple[str, str, float]]) -> Write:
    table = sum(n for index, _, n in entries if index == TABLE)
    by_index: dict[str, float] = {}
    for index, _, n in entries:
        if index != TABLE:
            by_index[index] = by_index.get(index, 0.0) + n
    return Write("UpdateItem", kind, "sent", "delivered", table, by_index, tuple(KeyUnits(*e) for e in entries))


def test_zipf_shares_sum_to_one_and_the_largest_domain_sends_about_13_percent() -> None:
    domains = zipf_domains()

    assert len(domains) == 1000
    assert sum(share for _, share in domains) == pytest.approx(1.0)
    assert domains[0][1] == pytest.approx(0.1336, abs=1e-4)
    assert domains[1][1] == pytest.approx(domains[0][1] / 2)


def test_a_domains_inflight_writes_spread_over_its_eight_shards_from_common_keys() -> None:
    shares = key_shares("InFlight", "acme.com")

    assert sorted(key for key, _ in shares) == keys.domain_inflight_keys("acme.com")
    assert sum(share for _, share in shares) == pytest.approx(1.0)


def test_class_loads_are_units_per_email_the_worst_case_and_shared_table_items_only() -> None:
    # Given a single email's ledger (its own job item: 5 units, InFlight 2) and a
    # bulk of 4 whose bulk item took 1 unit and whose jobs took 4 ByBulk units each
    single = Ledger(
        [
            _write("job", [(TABLE, "J1", 5.0), ("InFlight", "f#1", 2.0), ("ByDomain", "a#0", 1.0)]),
        ]
    )
    bulk = Ledger(
        [_write("bulk", [(TABLE, "k#B", 1.0)])]
        + [
            _write("job", [(TABLE, f"J{i}", 4.0), ("ByBulk", f"B#{i}", 4.0), ("InFlight", "f#2", 1.0)])
            for i in range(4)
        ]
    )

    loads = {c.index: c for c in class_loads([("single", single, 1), ("bulk", bulk, 4)])}

    assert loads["InFlight"].units == 2.0 and loads["InFlight"].case == "single"
    assert loads["ByBulk"].units == 4.0
    assert loads[TABLE].units == 0.25  # the bulk's item, shared by its 4 emails; never a job's own item
    assert loads["ByDomain"].units == 1.0


def test_the_rate_is_the_limit_over_the_hottest_key_for_the_domains_shares() -> None:
    # One unit per email on ByDomain: each of a domain's 4 shards takes a quarter
    loads = [ClassLoad("ByDomain", 1.0, "x")]

    alone = capacity(loads, [("acme.com", 1.0)])
    halves = capacity(loads, [("a.example", 0.5), ("b.example", 0.5)])

    assert alone.emails_per_second == pytest.approx(4000)
    assert halves.emails_per_second == pytest.approx(8000)
    assert alone.hottest[0][1].startswith("acme.com#")


def test_inflight_shards_shared_by_domains_add_up() -> None:
    # Given two domains whose InFlight shards overlap (found through common.adapters.index_keys)
    names = [f"d{i}.example" for i in range(200)]
    own = {name: set(keys.domain_inflight_keys(name)) for name in names}
    a, b = next((x, y) for x in names for y in names if x < y and len(own[x] & own[y]) == 7)
    loads = [ClassLoad("InFlight", 2.0, "x")]

    # When both send half the mail
    result = capacity(loads, [(a, 0.5), (b, 0.5)])

    # Then a shared shard takes both domains' eighths: 2 * (0.5/8 + 0.5/8) = 0.25 units per email
    assert result.emails_per_second == pytest.approx(4000)


def test_the_model_sets_per_address_and_per_bulk_keys_apart() -> None:
    ledger = Ledger(
        [
            _write(
                "job",
                [("ByRecipient", "a@b.org", 1.0), ("ByBulk", "B#0", 4.0), ("InFlight", "f#0", 2.0)],
            )
        ]
    )

    m = model([("one", ledger, 1)], poll_read_units=2.0)

    assert m.per_address == pytest.approx(1000)
    assert m.per_bulk.emails_per_second == pytest.approx(1000)  # 4 units over 4 shards
    assert m.one_domain.emails_per_second == pytest.approx(4000)  # InFlight: 2 over 8 shards
    assert m.polls_per_second == pytest.approx(polls_per_second(2.0)) == pytest.approx(6000)


def test_the_printed_lines_have_issues_9_and_28s_exact_wording() -> None:
    ledger = Ledger([_write("job", [("InFlight", "f#0", 2.0), ("ByDomain", "a#0", 1.0)])])
    m = model([("one", ledger, 1)])

    lines = printed_lines(14.002, m)

    assert re.fullmatch(r"write units per email, worst case: \d+(\.\d+)?", lines[0])
    assert re.fullmatch(r"sustainable emails/s, all domains: \d+", lines[1])
    assert re.fullmatch(r"sustainable emails/s, one domain: \d+", lines[2])
    assert re.fullmatch(r"emails/s at default account quotas: \d+", lines[3])
    assert lines[0].endswith(": 14.00") and lines[2].endswith(": 4000") and lines[3].endswith(": 14")


def test_at_default_quotas_the_lowest_ceiling_binds_ses_s_rate_or_the_tables_throughput() -> None:
    # Given 8 units per email on the table itself and 2 on InFlight
    ledger = Ledger([_write("job", [(TABLE, "J1", 8.0), ("InFlight", "f#0", 2.0)])])

    # Then at SES's default 14 a second SES binds; the table's 40,000 units a second allow 5,000
    m = model([("one", ledger, 1)])
    ceilings = {c.what: c.emails_per_second for c in m.quota_ceilings}
    assert ceilings["SES's sending rate"] == 14
    assert ceilings["DynamoDB's table-level write throughput"] == pytest.approx(40_000 / 8)
    assert m.at_default_quotas == 14
    # With SES's rate raised far enough, the table's quota binds
    raised = model([("one", ledger, 1)], ses_rate=100_000)
    assert raised.at_default_quotas == pytest.approx(5000)
    assert raised.quota_ceilings[0].what == "DynamoDB's table-level write throughput"
    assert all(c.raise_it for c in raised.quota_ceilings)


def test_the_table_and_each_index_are_loaded_apart_the_worst_case_each() -> None:
    one = Ledger([_write("job", [(TABLE, "J1", 5.0), ("InFlight", "f#0", 2.0)])])
    bulk = Ledger([_write("job", [(TABLE, f"J{i}", 4.0), ("ByBulk", "B#0", 4.0)]) for i in range(4)])

    loads = {c.index: (c.units, c.case) for c in object_loads([("one", one, 1), ("bulk", bulk, 4)])}

    assert loads == {TABLE: (5.0, "one"), "ByBulk": (4.0, "bulk"), "InFlight": (2.0, "one")}


@pytest.mark.parametrize(("shards", "attempts_per_second"), [(1, 500), (4, 2000)])
def test_a_retry_storm_of_one_domain_is_bound_by_its_hottest_retrying_key(
    monkeypatch: pytest.MonkeyPatch, shards: int, attempts_per_second: float
) -> None:
    # Given keys where a retrying job (only) carries ByDomainStatus's key, in ``shards`` shards
    def attributes(job: keys.KeyedJob) -> dict[str, str]:
        values = {"status": job.status.value}
        if job.status is JobStatus.RETRYING:
            values["esk"] = f"{job.domain}#retrying#{keys.shard(job.job_id, shards)}"
        return values

    monkeypatch.setattr(keys, "index_attributes", attributes)

    # When every attempt goes to retrying and back
    storm = retry_storm(sample=4000)

    # Then each attempt writes the entry in and out: 2 units on one key, spread over the shards
    assert storm.index == "ByDomainStatus" and storm.key.startswith("acme.com#retrying#")
    assert storm.attempts_per_second == pytest.approx(attempts_per_second, rel=0.1)


def test_the_services_own_keys_let_one_domains_retry_storm_reach_1500_attempts_a_second() -> None:
    # With the service's keys: ByDomainStatus's retrying partitions are three per domain and
    # type, ByScopeStatus's three per status and type; an attempt enters and leaves one of each
    storm = retry_storm(sample=4000)

    assert storm.index in {"ByDomainStatus", "ByScopeStatus"}
    assert storm.attempts_per_second == pytest.approx(1500, rel=0.05)  # one unsharded key: 500
