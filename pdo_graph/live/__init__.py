"""Live updates across processes: committed changes announced by PostgreSQL, heard by every server
process, passed to the subscriptions of that process.

Database triggers (migration 0040) call ``pg_notify`` on the channel :data:`~.topics.CHANNEL` with
a small JSON payload of ids (a topic and a key), so a change leaves only when its transaction
commits, whichever code path or process made it. Each server process holds one ``LISTEN``
connection (:class:`~.hub.Hub`, reconnecting with backoff) and wakes the watches of that topic and
key; a watch keeps only the newest wake-up, so a burst of changes costs a busy subscriber one
delivery. What a subscriber then receives is read afresh, with its own permissions, by the GraphQL
layer: nothing here knows GraphQL, HTTP or the rows.
"""

from pdo_graph.live.hub import Hub, Watch
from pdo_graph.live.topics import CHANNEL, Topic, notification_key

__all__ = ["CHANNEL", "Hub", "Topic", "Watch", "notification_key"]
