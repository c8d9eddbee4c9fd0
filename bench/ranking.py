"""What a list costs a worker: ``Recommender.recommend_many`` per user, by how many users are ranked together.

Run ``python -m bench.ranking [--write]``. The world of ``streamproc bench stream``: 5,000 simulated
listeners, 5,000 tracks, 100,000 events applied to one partition's state as a worker applies them,
a model trained as the trainer trains it (the served hybrid, and the ALS alone with
``STREAMPROC_ITEM_MODEL=none``). Each batch size ranks random users with their histories and skips,
as the ranking agent does, on one thread of BLAS: the median time of a call and per user.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bench.results import markdown_table, write_section
from streamproc.recommend.recommender import Recommender
from streamproc.recommend.training import Trainer
from streamproc.settings import Settings, settings
from streamproc.simulator import generate_catalogue, make_listeners, simulate_listens
from tables.user_state import PartitionState

USERS, TRACKS, EVENTS, SEED = 5000, 5000, 100_000, 1
BATCHES = (1, 4, 16, 200)
# Users ranked per batch size: enough calls for a stable median, a few seconds each.
USERS_PER_SIZE = 2000


def world(served: Settings) -> tuple[Recommender, PartitionState, float]:
    """Return a recommender with the simulated catalogue and a model trained on the simulated events, their
    state, and the seconds the training took."""
    catalogue = generate_catalogue(TRACKS, seed=SEED)
    listeners = make_listeners(catalogue, USERS, seed=SEED)
    rec = Recommender(served)
    for track in catalogue.tracks:
        rec.catalog.upsert(track.to_dict())
    state = PartitionState(0, served.event_weights())
    for offset, event in enumerate(simulate_listens(catalogue, listeners, EVENTS, seed=SEED, start=0.0)):
        state.apply(event.user_id, event.item_id, event.event, event.count, offset)
    trainer = Trainer(served)
    trainer.load(state)
    trainer.feed_catalog(rec.catalog)
    started = time.perf_counter()
    rec.install(trainer.train(trainer.snapshot(), version=1))
    return rec, state, time.perf_counter() - started


def cost(rec: Recommender, state: PartitionState, size: int, seed: int = 0) -> tuple[float, float]:
    """Return the median seconds of one ``recommend_many`` call of ``size`` random users, and that per user."""
    users = list(state.users)
    rng = np.random.default_rng(seed)
    calls = []
    for _ in range(max(5, USERS_PER_SIZE // size)):
        chosen = [users[i] for i in rng.choice(len(users), size, replace=False)]
        started = time.perf_counter()
        rec.recommend_many([(u, state.history(u)) for u in chosen], skipped=[state.skips(u) for u in chosen])
        calls.append(time.perf_counter() - started)
    median = statistics.median(calls)
    return median, median / size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    rows, trained = [], []
    with threadpool_limits(1):
        for name, served in (("hybrid (served)", settings), ("ALS alone", dataclasses.replace(settings, item_model="none"))):
            rec, state, seconds = world(served)
            trained.append(f"{name} {seconds:.1f} s")
            for size in BATCHES:
                call, per_user = cost(rec, state, size)
                rows.append([name, size, f"{call * 1000:.2f}", f"{per_user * 1e6:.0f}"])
                print(rows[-1], flush=True)
    body = (f"{USERS:,} simulated listeners, {TRACKS:,} tracks, {EVENTS:,} events (seed {SEED}), the default "
            f"settings; each batch size ranks random users with their histories and skips, {USERS_PER_SIZE:,} "
            "users a size (at least 5 calls), BLAS on one thread. Median of the calls.\n\n"
            + markdown_table(["model", "users ranked together", "ms a call", "µs a user"], rows)
            + f"\n\nTraining the model on the {EVENTS:,} events, as the trainer does: {', '.join(trained)}.")
    print(body)
    if args.write:
        write_section("ranking", "What a list costs: ranking users together", body, "python -m bench.ranking --write")


if __name__ == "__main__":
    main()
