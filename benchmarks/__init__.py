"""``make bench``: the service measured on a local stack, written to ``docs/benchmarks.md``.

One module per figure measures it and writes its part of the page (its
section, its rows of the summary, its notes of "Far from the minimum, and
why"): ``calls`` (1), ``coldstart`` (2), ``listing`` (3), ``pipeline`` (4),
``priority`` (5), ``writes`` (6), ``capacity`` (7), ``cancel`` (8),
``fairness`` (9). Below them, the helpers they share: ``harness`` (the local
stack), ``recording`` (the request log), ``ledger`` (the replay of the
recorded writes), ``cost`` (prices, item sizes, index rules), ``ceiling`` (the
bulk worker's calls in a plain loop), ``workload`` (the emails) and ``page``
(tables, numbers, summary rows). Above them, ``report`` puts the page together
and ``__main__`` runs the figures in their order. Imports only run down: a
figure imports neither another figure nor the report
(tests/bench/test_imports.py).
"""
