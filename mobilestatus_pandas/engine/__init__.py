"""The engine: a run from a column of values to a frame of answers.

``run`` (the ``Run`` handle, plan, dispatch, stop rules, the answers so far, the report),
``calls`` (``Caller``: one call to the service, retries, the store and limiters it is given),
``ratelimit`` and ``concurrency`` (how fast and how many at once), ``checks`` (several actions
over one column at once), ``planning`` (what a sample costs and how wide its intervals are),
``options`` (every option checked in one place). Imports the service, the stores and the
analysis layer's sampling; never the faces (accessor, client, dask, cli) nor the views.
"""
