"""The files of our own pages (served from our origin, with pinned, integrity-checked assets): the
analysts' page (``static/``, served by ``transport/analytics.py``) and GraphiQL's example operations."""
