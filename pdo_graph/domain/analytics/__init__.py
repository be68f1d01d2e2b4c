"""The analysts' view: measures by dimensions, disclosure-safe.

- ``measures``: what each measure counts and by which dimensions it can be broken down;
- ``tables``: who may ask for which table, and the table itself (rows, totals, order, CSV) from
  the aggregates;
- ``disclosure``: primary and complementary suppression over a table and all its margins;
- ``refresh``: the job that recomputes the aggregates from the ledger and the tables;
- ``summary``: the older fixed-shape summary (deprecated in the API).
"""
