"""Give a recommender a model trained as the trainer would, on histories given as plain dicts."""

from __future__ import annotations

from collections.abc import Mapping

from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from tables.model_bundle import PublishedModel


def trainer_with(rec: Recommender, histories: Mapping[str, Mapping[str, float]]) -> Trainer:
    """Return a trainer holding ``histories`` (in one partition) and ``rec``'s catalogue features."""
    trainer = Trainer(rec.settings)
    trainer.load_histories(histories)
    trainer.feed_catalog(rec.catalog)
    return trainer


def install_trained(rec: Recommender, histories: Mapping[str, Mapping[str, float]], version: int = 1) -> PublishedModel:
    """Train on ``histories`` and ``rec``'s catalogue, install the model in ``rec`` and return it."""
    trainer = trainer_with(rec, histories)
    model = trainer.train(trainer.snapshot(), version)
    rec.install(model)
    return model
