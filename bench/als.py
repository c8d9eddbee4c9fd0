"""ALS on Last.fm 2k: ours (CG, exact) against implicit (CG, Cholesky) and Spark MLlib, one split, one confidence;
and the item x item models EASE and RP3beta on the same split.

Run ``python -m bench.als`` (``--no-write`` prints without writing bench/RESULTS.md). Every ALS
contender fits the same training matrix with ``C = 1 + alpha * log1p(plays)``: ours and Spark
get ``log1p(plays)`` (they add the 1), implicit gets ``C`` itself, since its solvers read each
stored value as the confidence and use ``value - 1`` in the normal equations. EASE and RP3beta
read the same training plays as 0/1 preferences, with their defaults (chosen on a validation
split by ``streamproc tune``). Fit times are medians over ``--repeats``
fits; peak memory is tracemalloc's peak over one extra fit (Python-visible allocations,
which include every numpy array; Spark's JVM is not measured). Quality is precision,
MAP and nDCG at 10 under the ``streamproc evaluate`` protocol.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.results import markdown_table, write_section
from models.als import ImplicitALS
from models.ease import EASE
from models.metrics import evaluate_ranking
from models.rp3beta import RP3beta
from models.split import holdout_split, read_interactions
from models.tuning import scorer
from streamproc.settings import Settings

SEEDS = 5
THREE_STEPS = "ours CG, weighted, 3 steps (implicit's count)"
GRID = {"plain": (0.05, 1.0, 5.0, 20.0), "weighted": (0.01, 0.05, 0.2, 0.5)}


def measure(contenders: dict[str, Callable[[], tuple | Callable]],
            repeats: int) -> dict[str, tuple[float, float, tuple | Callable]]:
    """Return, per contender, the median fit seconds, the tracemalloc peak in MiB and the last fit's result:
    (user, item) factors, or an item model's ``score_users`` function.

    Repeats go round robin over the contenders, so a busy neighbour on the machine slows
    them all alike rather than whichever happened to run then.
    """
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    factors = {}
    for _ in range(repeats):
        for name, fit in contenders.items():
            started = time.perf_counter()
            factors[name] = fit()
            seconds[name].append(time.perf_counter() - started)
    results = {}
    for name, fit in contenders.items():
        tracemalloc.start()
        fit()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        results[name] = statistics.median(seconds[name]), peak, factors[name]
    return results


def ours(train: sp.csr_matrix, args, **params) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """Return a function fitting our ImplicitALS on raw plays and returning (user, item) factors."""
    def fit():
        model = ImplicitALS(factors=args.factors, iterations=args.iterations, regularization=args.regularization,
                            alpha=args.alpha, random_state=0, num_threads=args.threads, **params).fit(train)
        return model.user_factors_, model.item_factors_
    return fit


def item_model_fit(model, train: sp.csr_matrix) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """Return a function fitting the item x item ``model`` on ``train`` and returning its users' scorer."""
    return lambda: scorer(model.fit(train), train)


def implicit_fit(stored: sp.csr_matrix, args, use_cg: bool) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """Return a function fitting implicit's ALS on ``stored`` (the values it reads as confidence)."""
    from implicit.cpu.als import AlternatingLeastSquares

    def fit():
        model = AlternatingLeastSquares(factors=args.factors, regularization=args.regularization, alpha=1.0,
                                        iterations=args.iterations, use_cg=use_cg, num_threads=args.threads,
                                        random_state=0, calculate_training_loss=False)
        with threadpool_limits(1):
            model.fit(stored, show_progress=False)
        return model.user_factors, model.item_factors
    return fit


def spark_session():
    """Return a local[2] SparkSession, or None (with the reason printed) when pyspark cannot run."""
    try:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master("local[2]").appName("bench-als")
                 .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.shuffle.partitions", "4").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        return spark
    except Exception as exc:  # any failure to start Java or Spark only drops the Spark row
        print(f"Spark MLlib skipped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return None


def spark_fit(spark, train: sp.csr_matrix, args) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """Return a function fitting Spark MLlib's implicit ALS (regParam scaled per row, as ALS-WR) on log1p(plays)."""
    from pyspark.ml.recommendation import ALS

    coo = train.tocoo()
    frame = spark.createDataFrame(
        list(zip(coo.row.tolist(), coo.col.tolist(), np.log1p(coo.data).tolist())), ["user", "item", "rating"]
    ).cache()
    frame.count()

    def fit():
        model = ALS(rank=args.factors, maxIter=args.iterations, regParam=args.regularization, alpha=args.alpha,
                    implicitPrefs=True, userCol="user", itemCol="item", ratingCol="rating", seed=0,
                    numUserBlocks=args.threads, numItemBlocks=args.threads).fit(frame)
        return (_spark_factors(model.userFactors, train.shape[0], args.factors),
                _spark_factors(model.itemFactors, train.shape[1], args.factors))
    return fit


def _spark_factors(frame, rows: int, k: int) -> np.ndarray:
    """Return Spark's (id, features) factor frame as a dense array (zero rows for ids it never saw)."""
    factors = np.zeros((rows, k), dtype=np.float32)
    for row in frame.collect():
        factors[row.id] = row.features
    return factors


def quality(factors: tuple[np.ndarray, np.ndarray] | Callable, train, test) -> dict[str, float]:
    """Return the top-10 metrics of ``(user, item)`` factors or a ``score_users`` function on the held-out split."""
    if callable(factors):
        return evaluate_ranking(factors, train, test)
    users, items = factors
    return evaluate_ranking(lambda rows: users[rows] @ items.T, train, test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(Settings().data) / "lastfm-2k" / "user_artists.dat")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print the section without writing bench/RESULTS.md")
    args = parser.parse_args(argv)

    train, test = holdout_split(read_interactions(args.data, "lastfm").matrix, seed=42)
    confidence = train.astype(np.float32)
    confidence.data = 1.0 + args.alpha * np.log1p(confidence.data)
    contenders = {
        "ours CG, weighted (default)": ours(train, args, solver="cg", regularization_mode="weighted"),
        THREE_STEPS: ours(train, args, solver="cg", regularization_mode="weighted", cg_steps=3),
        "ours CG, plain": ours(train, args, solver="cg", regularization_mode="plain"),
        "ours exact, weighted": ours(train, args, solver="exact", regularization_mode="weighted"),
        "ours exact, plain": ours(train, args, solver="exact", regularization_mode="plain"),
        "implicit 0.7.3 CG (plain)": implicit_fit(confidence, args, use_cg=True),
        "implicit 0.7.3 Cholesky (plain)": implicit_fit(confidence, args, use_cg=False),
        "implicit 0.7.3 CG fed log1p(plays) as C (plain)": implicit_fit(_log1p(train), args, use_cg=True),
    }
    ease, rp3beta = EASE(num_threads=args.threads), RP3beta()
    contenders[f"EASE (lambda={ease.regularization:g}, min_count={ease.min_count})"] = item_model_fit(ease, train)
    contenders[f"RP3beta (alpha={rp3beta.alpha:g}, beta={rp3beta.beta:g}, {rp3beta.neighbours} neighbours)"] = \
        item_model_fit(rp3beta, train)
    spark = None if args.no_spark else spark_session()
    if spark is not None:
        contenders["Spark MLlib ALS local[2] (weighted)"] = spark_fit(spark, train, args)
    rows = []
    measured = measure(contenders, args.repeats)
    for name, (seconds, peak, factors) in measured.items():
        metrics = quality(factors, train, test)
        peak_text = "-" if name.startswith("Spark") else f"{peak:.0f}"
        rows.append([name, f"{seconds:.2f}", peak_text] +
                    [f"{metrics[m + '@10']:.4f}" for m in ("precision", "recall", "map", "ndcg")])
        print(" | ".join(rows[-1]), flush=True)
    if spark is not None:
        spark.stop()
    body = (f"Last.fm 2k, {train.nnz} training / {test.nnz} held-out plays (seed 42), k={args.factors}, "
            f"{args.iterations} iterations, lambda={args.regularization}, C = 1 + {args.alpha} log1p(plays), "
            f"{args.threads} threads; median of {args.repeats} fits.\n\n"
            + markdown_table(["model", "fit s", "peak MiB", "P@10", "R@10", "MAP@10", "nDCG@10"], rows))
    body += "\n\n" + time_ratios({name: seconds for name, (seconds, _, _) in measured.items()})
    body += (f"\n\nSpread over random initialisations (seeds 0-{SEEDS - 1}, CG, mean ± sd):\n\n"
             + seeds_table(train, test, confidence, args))
    if not args.no_grid:
        body += "\n\nRegularisation grid (ours, CG, same split):\n\n" + grid_table(train, test, args)
    print(body)
    if args.no_write:
        return
    write_section("als", "Implicit ALS: quality and fit time on Last.fm 2k", body, "python -m bench.als")


def time_ratios(seconds: dict[str, float]) -> str:
    """Return the sentence comparing our fit times with implicit's, the targets being at most 1.5x."""
    def ratio(ours_name: str, theirs_name: str) -> str:
        return f"{seconds[ours_name] / seconds[theirs_name]:.2f}x"

    cg, cholesky = "implicit 0.7.3 CG (plain)", "implicit 0.7.3 Cholesky (plain)"
    return (f"Fit time ours / implicit (target at most 1.5x): CG (default) {ratio('ours CG, weighted (default)', cg)}, "
            f"with implicit's 3 CG steps {ratio(THREE_STEPS, cg)}; exact against Cholesky "
            f"{ratio('ours exact, weighted', cholesky)}.")


def _log1p(train: sp.csr_matrix) -> sp.csr_matrix:
    """Return log1p(plays) as float32, what implicit reads as C when fed the brief's "C - 1" matrix."""
    matrix = train.astype(np.float32)
    matrix.data = np.log1p(matrix.data)
    return matrix


def seeds_table(train, test, confidence, args) -> str:
    """Return P@10 and nDCG@10 (mean ± sd over SEEDS initialisations) of ours and implicit's CG."""
    rows = []
    for name, make in (("ours, weighted (default)", lambda seed: ImplicitALS(random_state=seed, **_ours(args))),
                       ("ours, weighted, 3 CG steps", lambda seed: ImplicitALS(random_state=seed, cg_steps=3,
                                                                              **_ours(args))),
                       ("ours, plain", lambda seed: ImplicitALS(random_state=seed, regularization_mode="plain",
                                                                **_ours(args))),
                       ("implicit, plain", None)):
        scores = []
        for seed in range(SEEDS):
            if make is None:
                from implicit.cpu.als import AlternatingLeastSquares

                model = AlternatingLeastSquares(factors=args.factors, regularization=args.regularization,
                                                iterations=args.iterations, num_threads=args.threads,
                                                random_state=seed, calculate_training_loss=False)
                with threadpool_limits(1):
                    model.fit(confidence, show_progress=False)
                factors = model.user_factors, model.item_factors
            else:
                model = make(seed).fit(train)
                factors = model.user_factors_, model.item_factors_
            metrics = quality(factors, train, test)
            scores.append((metrics["precision@10"], metrics["ndcg@10"]))
        mean, sd = np.mean(scores, axis=0), np.std(scores, axis=0)
        rows.append([name, f"{mean[0]:.4f} ± {sd[0]:.4f}", f"{mean[1]:.4f} ± {sd[1]:.4f}"])
        print(rows[-1], flush=True)
    return markdown_table(["model", "P@10", "nDCG@10"], rows)


def _ours(args) -> dict:
    """Return our ImplicitALS parameters shared by every row of the side tables."""
    return dict(factors=args.factors, iterations=args.iterations, regularization=args.regularization,
                alpha=args.alpha, num_threads=args.threads)


def grid_table(train, test, args) -> str:
    """Return P@10 and nDCG@10 of our CG solver over the GRID of modes and lambdas."""
    rows = []
    for mode, lambdas in GRID.items():
        for lam in lambdas:
            model = ImplicitALS(factors=args.factors, iterations=args.iterations, regularization=lam,
                                regularization_mode=mode, alpha=args.alpha, random_state=0,
                                num_threads=args.threads).fit(train)
            metrics = quality((model.user_factors_, model.item_factors_), train, test)
            rows.append([mode, lam, f"{metrics['precision@10']:.4f}", f"{metrics['ndcg@10']:.4f}"])
            print(rows[-1], flush=True)
    return markdown_table(["mode", "lambda", "P@10", "nDCG@10"], rows)


if __name__ == "__main__":
    main()
