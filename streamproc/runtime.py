"""The objects a worker serves from, built in one place: the recommender, the owned users, the logs.

Agents, tasks and pages import :data:`runtime` from here; nothing else builds or rewires these
objects, so what a worker holds is read in this one file.
"""

from __future__ import annotations

import dataclasses

from streamproc.kafka.listens_reader import ListensReader
from streamproc.kafka.model_log import ModelLog
from streamproc.kafka.state_log import StateLog
from streamproc.owned_users import OwnedUsers
from streamproc.recommend.list_schedule import ListSchedule
from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from streamproc.settings import Settings, settings
from tables import store
from tables.topics import LISTENS

@dataclasses.dataclass
class Runtime:
    """One worker's state: the recommender and catalogue, its partitions' users, the two logs, the
    reader of its ``listens`` partitions, when its users' lists are due, and the trainer while this
    worker is the leader."""

    settings: Settings
    recommender: Recommender
    owned: OwnedUsers
    state_log: StateLog
    model_log: ModelLog
    listens: ListensReader
    lists: ListSchedule
    trainer: Trainer | None = None


def build(settings: Settings) -> Runtime:
    """Return a worker's runtime objects for ``settings``, on the app's topics and tables."""
    bootstrap = settings.bootstrap_servers()
    return Runtime(
        settings=settings,
        recommender=Recommender(settings, controls=store.user_controls),
        owned=OwnedUsers(),
        state_log=StateLog(store.user_state_topic, LISTENS, bootstrap, settings.event_weights(),
                           settings.max_message_bytes),
        model_log=ModelLog(store.model_topic, bootstrap),
        listens=ListensReader(bootstrap, LISTENS, settings.fetch_max_wait_ms, settings.batch_size),
        lists=list_schedule(settings),
    )


def list_schedule(settings: Settings) -> ListSchedule:
    """Return a fresh schedule of users' lists for ``settings``."""
    return ListSchedule(settings.list_interval_seconds, settings.list_behind_seconds, settings.list_behind_events)


runtime = build(settings)
