"""What the workers serve, scored offline: the trainer's model and the recommender's blend, on a matrix of plays.

``streamproc evaluate`` scores this by default, so the figure it prints is the one of the ranking
the workers run with the same settings: the :class:`~streamproc.recommend.training.Trainer`
fits the ALS and the item model as it does before publishing a version, the
:class:`~streamproc.recommend.recommender.Recommender` installs it, and every user is folded in
from their row and scored by :meth:`~streamproc.recommend.factors.FoldedUsers.scores`, as a
worker does for a changed history.

>>> import numpy as np, scipy.sparse as sp
>>> plays = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3))) * 5)
>>> score = served_scorer(plays, Settings(min_train_users=2, als_factors=2, item_model="rp3beta"), seed=0)
>>> scores = score(np.array([0, 4]))
>>> scores.shape, bool(scores[0, :3].min() > scores[0, 3:].max()), bool(scores[1, 3:].min() > scores[1, :3].max())
((2, 6), True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from streamproc.settings import Settings


def served_scorer(plays: sp.csr_matrix, settings: Settings, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``score_users(users) -> (len(users), n_items)``: the served scores of those rows of ``plays``.

    ``plays`` is users x items of non-negative weights; the model is trained on all of it (its
    version, which seeds the ALS, is ``seed``). Items no user played score 0.
    """
    plays = sp.csr_matrix(plays)
    histories = [dict(zip(map(str, plays.indices[plays.indptr[u]:plays.indptr[u + 1]].tolist()),
                          plays.data[plays.indptr[u]:plays.indptr[u + 1]].tolist())) for u in range(plays.shape[0])]
    trainer = Trainer(settings)
    trainer.load_histories({str(u): history for u, history in enumerate(histories)})
    recommender = Recommender(settings)
    recommender.install(trainer.train(trainer.snapshot(), version=seed))
    factors = recommender.factors
    if factors is None:
        raise ValueError(f"{plays.shape[0]} users are fewer than STREAMPROC_MIN_TRAIN_USERS={settings.min_train_users}")
    columns = np.array(factors.item_ids, dtype=np.int64)

    def score_users(users: np.ndarray) -> np.ndarray:
        folded = factors.fold_in([histories[u] for u in users])
        scores = np.zeros((len(users), plays.shape[1]), dtype=np.float32)
        if folded.positions:
            blended, _ = folded.scores(0, len(folded.positions))
            rows = np.fromiter(folded.positions, np.int64, len(folded.positions))
            scores[rows[:, None], columns[None, :]] = blended
        return scores

    return score_users
