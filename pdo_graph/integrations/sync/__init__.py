"""Pulling providers' catalog feeds into the catalog, split by concern:

- ``run``: the life of one run of one source (``run_source``: lock, begin, read and write the pages,
  finish), its options and summary;
- ``rpde``: the RPDE page rules (envelopes, ordering, the last page), pure;
- ``pages``: a fetched page made ready with no database (parsed, mapped by ``integrations.feeds``,
  checked by the catalog's rules), pure;
- ``store``: the SQL of runs, sources' cursors and the per-item feed state;
- ``scheduler``: the sources that are due, the server's background loop;
- ``messages``: stored failures, problems as paths into a feed item, messages rendered.

Entry points: ``run.run_source`` (``catalogSourceSync``, ``pdo-graph sync``),
``scheduler.sync_due_sources`` (the job queue's periodic catalog sync, ``--with-sync``).
Nothing is imported here, so that ``integrations.feeds`` may use ``rpde`` without a cycle.
"""
