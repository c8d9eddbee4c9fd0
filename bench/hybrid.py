"""What the workers serve on Last.fm 2k: the hybrid against its parts, the search that chose it, and its costs.

Run ``python -m bench.hybrid`` (``--no-write`` prints without writing bench/RESULTS.md). On the
``streamproc evaluate`` split (seed 42):

- **served**: the trainer (``Trainer.train``) fits the ALS and the item model with the shipped
  settings (``streamproc/settings.py``) on the training split, the recommender installs the
  version and scores each user folded in (``streamproc.recommend.served``), as a worker does;
  beside it the same path with the ALS alone (``STREAMPROC_ITEM_MODEL=none``), the ALS at the
  previous defaults, and the item models alone. Fit time is the trainer's (both models).
- **the search**: ``models.tuning.tune`` with ``--budget`` (what ``streamproc tune`` runs): every
  setting tried with its validation nDCG@10, the winner refit on the training split and scored
  on the test split once.
- **costs**: the bytes of one published version (``encode_model``) on Last.fm 2k and on the
  simulator (5,000 users, 5,000 tracks, 100,000 events); the item model's fit on all of Last.fm 2k;
  ALS fit time against implicit's CG at the same k, iterations and threads; the time to score one
  history (one row times the sparse item matrix, then the blend with the ALS) at 20,000 items.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.results import markdown_table, write_section
from bench.scaling import simulated_plays
from models.als import ImplicitALS
from models.metrics import evaluate_ranking
from models.rp3beta import RP3beta
from models.split import holdout_split, read_interactions
from models.tuning import fit_scorer, tune
from streamproc.recommend.recommender import Recommender
from streamproc.recommend.served import served_scorer
from streamproc.recommend.training import Trainer, to_csr
from streamproc.settings import Settings, settings
from streamproc.simulator import generate_catalogue, make_listeners, simulate_listens
from tables.model_bundle import Blend, PublishedModel, encode_model

PREVIOUS_ALS = {"als_regularization": 0.05, "als_alpha": 1.0}
METRICS = ("precision", "recall", "map", "ndcg")


def timed(call: Callable[[], object]) -> tuple[float, object]:
    """Return the seconds ``call()`` took and what it returned."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def served_rows(train: sp.csr_matrix, test: sp.csr_matrix, threads: int) -> list[list[str]]:
    """Return a row per served configuration and item model alone: its name, fit seconds and test metrics."""
    base = dataclasses.replace(settings, als_threads=threads, min_train_users=1)
    configurations = {
        f"served: {base.hybrid_weight:g} x ALS + {1 - base.hybrid_weight:g} x {base.item_model} "
        f"({base.hybrid_normalise}), the shipped defaults": base,
        "served: the ALS of the shipped defaults alone": dataclasses.replace(base, item_model="none"),
        "served: the ALS of the previous defaults (lambda 0.05, alpha 1) alone":
            dataclasses.replace(base, item_model="none", **PREVIOUS_ALS),
    }
    rows = []
    for name, served in configurations.items():
        seconds, score_users = timed(lambda: served_scorer(train, served, seed=42))
        rows.append(_row(name, seconds, evaluate_ranking(score_users, train, test)))
    items = {"ease": {"regularization": base.ease_regularization, "neighbours": base.item_neighbours},
             "rp3beta": {"alpha": base.rp3beta_alpha, "beta": base.rp3beta_beta, "neighbours": base.item_neighbours}}
    for family, params in items.items():
        seconds, score_users = timed(lambda: fit_scorer(family, params, train, threads=threads))
        setting = ", ".join(f"{key}={value:g}" for key, value in params.items())
        rows.append(_row(f"{family} alone ({setting})", seconds, evaluate_ranking(score_users, train, test)))
    return rows


def _row(name: str, seconds: float, metrics: dict[str, float]) -> list[str]:
    row = [name, f"{seconds:.1f}"] + [f"{metrics[m + '@10']:.4f}" for m in METRICS]
    print(" | ".join(row), flush=True)
    return row


def search_section(train: sp.csr_matrix, test: sp.csr_matrix, budget: int, threads: int) -> str:
    """Return the search of ``tune`` as text: each family's best, every trial, the winner on test."""
    started = time.perf_counter()
    tuned = tune(train, test, budget=budget, seed=42, threads=threads,
                 progress=lambda trial: print(f"{trial.family} {trial.params} {trial.score:.4f}", flush=True))
    seconds = time.perf_counter() - started
    trials = [[trial.family, _setting(trial.params), f"{trial.metrics['precision@10']:.4f}", f"{trial.score:.4f}"]
              for trial in tuned.search.trials]
    winner = tuned.winner
    return (f"`streamproc tune --budget {budget}` (seed 42): {len(trials)} settings in {seconds:.0f} s "
            f"({tuned.sizes['fitting']} fitting, {tuned.sizes['validation']} validation plays carved from the "
            f"training split). Winner on validation: **{winner.family}** ({_setting(winner.params)}), "
            f"validation P@10 {winner.metrics['precision@10']:.4f} / nDCG@10 {winner.score:.4f}; refit on the "
            f"training split and scored once on test: P@10 {tuned.test['precision@10']:.4f} / nDCG@10 "
            f"{tuned.test['ndcg@10']:.4f}.\n\nEvery setting tried, in order (random draws, then the local steps, "
            f"then the blends):\n\n"
            + markdown_table(["model", "setting", "validation P@10", "validation nDCG@10"], trials))


def _setting(params: dict) -> str:
    """Return a trial's parameters on one line, a hybrid's ALS part left out (it is the best ALS)."""
    shown = {key: value for key, value in params.items() if key != "als"}
    return ", ".join(f"{key}={_value(value)}" for key, value in shown.items())


def _value(value) -> str:
    if isinstance(value, dict):
        return "(" + _setting(value) + ")"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def simulated_histories(users: int = 5000, tracks: int = 5000, events: int = 100_000) -> dict[str, dict[str, float]]:
    """Return the simulator's listeners as histories (item -> confidence under the default event weights)."""
    catalogue = generate_catalogue(tracks, seed=1)
    weights = Settings().event_weights()
    histories: dict[str, dict[str, float]] = {}
    for event in simulate_listens(catalogue, make_listeners(catalogue, users, seed=1), events, seed=1):
        history = histories.setdefault(event.user_id, {})
        history[event.item_id] = history.get(event.item_id, 0.0) + weights[event.event] * event.count
    return histories


def bundle_rows(lastfm: sp.csr_matrix, threads: int) -> list[list[str]]:
    """Return, for Last.fm 2k and the simulator, the items, the item model's weights and the bytes of a version."""
    sets = {"Last.fm 2k, all plays": {str(u): {str(i): float(w) for i, w in zip(lastfm[u].indices, lastfm[u].data)}
                                      for u in range(lastfm.shape[0])},
            "simulator, 5,000 users x 5,000 tracks, 100,000 events": simulated_histories()}
    rows = []
    for name, histories in sets.items():
        trainer = Trainer(dataclasses.replace(settings, als_threads=threads))
        trainer.load_histories(histories)
        seconds, model = timed(lambda: trainer.train(trainer.snapshot(), version=1))
        item_seconds, _ = timed(lambda: trainer.fit_item_model(to_csr(list(histories.items()))[0]))
        alone = len(encode_model(dataclasses.replace(model, item_model=None, hybrid=None)))
        rows.append([name, f"{len(model.item_ids):,}", f"{model.item_model.items_.size:,}",
                     f"{model.item_model.similarity_.nnz:,}", f"{alone / 1e6:.1f}",
                     f"{len(encode_model(model)) / 1e6:.1f}", f"{seconds:.1f}", f"{item_seconds:.1f}"])
        print(rows[-1], flush=True)
    return rows


def als_time_ratio(train: sp.csr_matrix, threads: int, repeats: int) -> str:
    """Return the sentence comparing the shipped ALS's fit time with implicit's CG at equal k, iterations and threads."""
    from implicit.cpu.als import AlternatingLeastSquares

    s = settings
    confidence = train.astype(np.float32)
    confidence.data = 1.0 + s.als_alpha * np.log1p(confidence.data)

    def ours() -> None:
        ImplicitALS(factors=s.als_factors, iterations=s.als_iterations, regularization=s.als_regularization,
                    alpha=s.als_alpha, regularization_mode=s.als_regularization_mode, random_state=0,
                    num_threads=threads).fit(train)

    def theirs() -> None:
        model = AlternatingLeastSquares(factors=s.als_factors, regularization=s.als_regularization, alpha=1.0,
                                        iterations=s.als_iterations, num_threads=threads, random_state=0,
                                        calculate_training_loss=False)
        with threadpool_limits(1):
            model.fit(confidence, show_progress=False)

    times: dict[str, list[float]] = {"ours": [], "implicit": []}
    for _ in range(repeats):
        for name, fit in (("ours", ours), ("implicit", theirs)):
            times[name].append(timed(fit)[0])
    mine, other = statistics.median(times["ours"]), statistics.median(times["implicit"])
    return (f"ALS fit with the shipped settings (k={s.als_factors}, {s.als_iterations} iterations, {threads} threads, "
            f"median of {repeats}): ours {mine:.2f} s, implicit 0.7.3 CG {other:.2f} s: {mine / other:.2f}x "
            f"(target at most 1.5x).")


def scoring_latency(threads: int, repeats: int = 500) -> str:
    """Return the sentence timing one history's served scores at 20,000 items (median and p99 of ``repeats``)."""
    plays = simulated_plays(1_000_000, 20_000, 20_000, seed=0)
    als = ImplicitALS(factors=settings.als_factors, iterations=settings.als_iterations, random_state=0,
                      regularization=settings.als_regularization, alpha=settings.als_alpha,
                      num_threads=threads).fit(plays)
    # EASE of 20,000 kept items needs a 1.6 GB dense inverse to fit; RP3beta with the same weights per
    # item gives a sparse matrix of the same shape and size, which is what the scoring time depends on.
    items = RP3beta(neighbours=settings.item_neighbours).fit(plays)
    ids = [str(i) for i in range(plays.shape[1])]
    model = PublishedModel(1, 0.0, 0.0, plays.shape[0], ids, als, np.diff(plays.tocsc().indptr), None, items,
                           Blend(settings.hybrid_weight, settings.hybrid_normalise))
    recommender = Recommender(settings)
    recommender.install(model)
    factors = recommender.factors
    rows = np.random.default_rng(1).choice(plays.shape[0], size=repeats)
    histories = [{str(i): float(w) for i, w in zip(plays[u].indices, plays[u].data)} for u in rows]
    item_only, served = [], []
    # BLAS on one thread: a one-row product gains nothing from a second, and on a busy two-core machine
    # waking it cost up to 100 ms at the 99th percentile.
    with threadpool_limits(1):
        for history in histories:
            folded = factors.fold_in([history])
            item_only.append(timed(lambda: items.score_histories(folded.rows))[0])
            served.append(timed(lambda: factors.fold_in([history]).scores(0, 1))[0])
    length = statistics.median(len(h) for h in histories)
    return (f"One history's scores at 20,000 items ({repeats} users of 1,000,000 simulated plays, median "
            f"{length:.0f} items a history; item matrix of {items.similarity_.nnz:,} weights, "
            f"{settings.item_neighbours} an item): the item model's row times its matrix p50 "
            f"{1000 * np.median(item_only):.2f} ms / p99 {1000 * np.percentile(item_only, 99):.2f} ms; the whole "
            f"served score (fold-in, ALS scores, the item model's, the normalised blend) p50 "
            f"{1000 * np.median(served):.2f} ms / p99 {1000 * np.percentile(served, 99):.2f} ms (target under 5 ms; "
            f"BLAS on one thread).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(Settings().data) / "lastfm-2k" / "user_artists.dat")
    parser.add_argument("--budget", type=int, default=10, help="tune's budget (0: leave the search out)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the section without writing bench/RESULTS.md")
    args = parser.parse_args(argv)

    plays = read_interactions(args.data, "lastfm").matrix
    train, test = holdout_split(plays, seed=42)
    body = (f"Last.fm 2k, {train.nnz} training / {test.nnz} held-out plays (seed 42, the `streamproc evaluate` "
            f"split), {args.threads} threads. Target: what is served by default above P@10 0.2071 and nDCG@10 "
            f"0.2535, its settings chosen on validation only.\n\n"
            + markdown_table(["ranked by", "fit s", "P@10", "R@10", "MAP@10", "nDCG@10"],
                             served_rows(train, test, args.threads)))
    body += ("\n\nOne published model version (`encode_model`: ALS item factors, item model with uint16 columns "
             "and float16 weights, popularity; no clusters here):\n\n"
             + markdown_table(["data", "items", "item model's items", "its weights", "MB without item model",
                               "MB", "trainer s", "item model fit s"], bundle_rows(plays, args.threads)))
    body += "\n\n" + als_time_ratio(train, args.threads, args.repeats)
    body += "\n\n" + scoring_latency(args.threads)
    if args.budget > 0:
        body += "\n\n" + search_section(train, test, args.budget, args.threads)
    print(body)
    if not args.no_write:
        write_section("hybrid", "What the workers serve on Last.fm 2k: the hybrid, its search and its costs", body,
                      f"python -m bench.hybrid --budget {args.budget}")


if __name__ == "__main__":
    main()
