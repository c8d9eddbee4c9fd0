"""Web routes of what this worker holds: the ``listens`` partitions it owns, and their users.

- ``/api/partitions/``: each owned partition's users, events and the ``listens`` offset applied through.
- ``/api/partitions/{partition}/users``: user id → events applied, for one owned partition (404 for
  a partition another worker owns: each worker answers only for its own state).
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from streamproc.app import app
from streamproc.runtime import runtime
from streamproc.settings import settings


def partitions_view() -> dict[str, Any]:
    """Return each owned partition's users, events and applied offset."""
    return {"partitions": {
        str(partition): {"users": len(state), "events": state.total_events(), "applied_through": state.through}
        for partition, state in sorted(runtime.owned.partitions.items())
    }}


@app.page("/api/partitions/")
async def partitions_api(web: View, request: Request) -> Response:
    """The partitions this worker owns, as JSON."""
    return web.json(partitions_view())


@app.page("/api/partitions/{partition}/users")
async def partition_users_api(web: View, request: Request, partition: str) -> Response:
    """The users of one owned partition with their event counts."""
    if not partition.isdigit() or not int(partition) < settings.topic_partitions:
        return web.json({"error": f"partition must be a whole number below {settings.topic_partitions}, "
                                  f"got {partition[:40]!r}"}, status=400)
    state = runtime.owned.partitions.get(int(partition))
    if state is None:
        return web.json({"error": f"partition {partition} is not owned by this worker"}, status=404)
    return web.json({"partition": state.partition,
                     "users": {user_id: user[0] for user_id, user in list(state.users.items())}})
