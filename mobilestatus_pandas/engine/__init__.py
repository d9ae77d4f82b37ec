"""The engine: a run from a column of values to a frame of answers.

A run in parts: ``run`` (the ``Run`` handle, ``start``, ``run_lookups``), ``steps`` (the
steps in order, in the run's thread), ``plan`` (classify, de-duplicate, the cache in one
query, ``estimate``), ``dispatch`` (the worker pool and ``Calls``: claims, budget, the ledger
and cache at each answer), ``stops`` (the stop rules and their reasons), ``answers`` (the
answers as result columns, so far and at the end), ``run_report`` (``RunReport``),
``options`` (``RunOptions``: a run's options checked once, and every option check),
``display`` (how a run is shown: a protocol the package fills in with the views'). Beside
them ``calls`` (``Caller``: one call to the service, retries, the store and limiters it is
given), ``ratelimit`` and ``concurrency`` (how fast and how many at once), ``checks``
(several actions over one column at once), ``planning`` (what a sample costs and how wide
its intervals are). Imports the service, the stores and the analysis layer; never the faces
(accessor, client, dask, cli) nor the views.
"""
