"""``flowlab bench``: the lab's hot paths, each measured in the same run as its baseline.

One module per thing measured, each benchmark returning a typed result (a frozen msgspec
``Struct``):

- ``codec``: typed msgspec decode / encode of a ``SubmitOrder`` against ``msgpack`` + a frozen
  dataclass + field checks in Python (the alternative DESIGN §3 measured) -> ``CodecResult``;
- ``book``: the lit matching core on a seeded mixed flow against a plain book (dict of price ->
  deque, bisect-sorted price lists) replaying the same op list -> ``BookResult``;
- ``sor``: greedy and optimal allocation over 10 venues x 10 levels, against the 1 ms aim ->
  ``SorResult``;
- ``transport``: the bare path (2 and 3 OS processes, nothing but sockets; its roles run as
  ``python -m orchestration.bench.transport``) -> ``BareResult``;
- ``lab``: a real lab with every latency model at zero, driven by the same order client
  (``client``): client -> broker -> wholesaler (PFOF) -> broker -> client -> ``LabResult``.

``run.run_bench`` runs them all and writes ``bench.json``; ``report`` renders the table, its rows
built per result type. Only ratios measured together mean anything on a shared machine. See
docs/BENCHMARKS.md.

Nothing is imported here, so the bare-transport role processes load only what they use.
"""
