"""ALS at scale on simulated plays: seconds per iteration and peak memory, ours against implicit; serving latency.

Run ``python -m bench.scaling``. Each (library, size) fit runs in its own process, which
generates the matrix, resets its peak RSS (``/proc/self/clear_refs``), fits and reports
``VmHWM`` minus the RSS before the fit, so one run's memory cannot leak into another's.
Matrices are seeded, with Zipf-like item popularity (exponent 1) and geometric play counts.
The process fitting ours at the largest size also times fold-in of 500-play users at k=64
and top-10 selection among all its items (100,000 by default). Each size is fitted
``--repeats`` times per library, round robin over the libraries; the table keeps each
library's fastest time (a busy neighbour on the machine only ever slows a run) and its
largest peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bench.results import markdown_table, write_section

SIZES = {1_000_000: (20_000, 20_000), 10_000_000: (200_000, 100_000)}
# Ours at implicit's number of CG steps per sweep, next to ours at its default (two).
THREE_STEPS = "ours, 3 CG steps"
LIBRARIES = ("ours", THREE_STEPS, "implicit")


def simulated_plays(nnz: int, users: int, items: int, seed: int = 0) -> sp.csr_matrix:
    """Return a users x items play-count matrix of about ``nnz`` nonzeros with power-law item popularity."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1)
    keys = np.empty(0, dtype=np.int64)
    # Popular items repeat often, so draw in rounds until there are nnz distinct (user, item) pairs.
    while len(keys) < nnz:
        draws = 2 * (nnz - len(keys))
        drawn = rng.integers(users, size=draws) * items + rng.choice(items, size=draws, p=popularity / popularity.sum())
        keys = np.concatenate([keys, drawn])
        _, first = np.unique(keys, return_index=True)
        keys = keys[np.sort(first)]
    keys = keys[:nnz]
    plays = rng.geometric(0.05, size=nnz).astype(np.float64)
    return sp.csr_matrix((plays, (keys // items, keys % items)), shape=(users, items))


def _rss_kib(field: str) -> int:
    """Return this process's ``VmRSS`` or ``VmHWM`` in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def percentiles_ms(call, repeats: int) -> tuple[float, float]:
    """Return the median and 99th percentile latency of ``call()`` in milliseconds."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def worker(library: str, nnz: int, iterations: int, threads: int, serving: bool) -> dict:
    """Fit ``library`` on the simulated matrix of size ``nnz`` in this process and return its measurements."""
    plays = simulated_plays(nnz, *SIZES[nnz])
    if library == "implicit":
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        confidence = plays.astype(np.float32)
        confidence.data = 1.0 + np.log1p(confidence.data)
        model = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=iterations,
                                        num_threads=threads, random_state=0, calculate_training_loss=False)
        fit = lambda: model.fit(confidence, show_progress=False)  # noqa: E731
        limits = threadpool_limits(1)
    else:
        from models.als import ImplicitALS

        steps = {"cg_steps": 3} if library == THREE_STEPS else {}
        model = ImplicitALS(factors=64, iterations=iterations, random_state=0, num_threads=threads, **steps)
        fit = lambda: model.fit(plays)  # noqa: E731
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kib("VmRSS")
    started = time.perf_counter()
    fit()
    seconds = time.perf_counter() - started
    result = {"library": library, "nnz": int(plays.nnz), "shape": list(plays.shape),
              "seconds_per_iteration": seconds / iterations,
              "fit_peak_mib": (_rss_kib("VmHWM") - before) / 1024}
    if library == "implicit":
        limits.unregister()
    if serving:
        from threadpoolctl import threadpool_limits

        # A serving worker answers one request per core; BLAS threads would only contend.
        with threadpool_limits(1):
            result.update(serving_latency(model, plays))
    return result


def serving_latency(model, plays: sp.csr_matrix, repeats: int = 2000) -> dict:
    """Return fold-in latency for 500-play users and top-10 latency over every item, in ms."""
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(repeats):
        items = np.sort(rng.choice(plays.shape[1], size=500, replace=False))
        rows.append(sp.csr_matrix((rng.geometric(0.05, 500).astype(np.float64), items, [0, 500]),
                                  shape=(1, plays.shape[1])))
    rows_iter = iter(rows * 2)
    fold_p50, fold_p99 = percentiles_ms(lambda: model.fold_in(next(rows_iter)), repeats)
    vector = model.fold_in(rows[0])
    top_p50, top_p99 = percentiles_ms(lambda: model.recommend(None, n=10, user_items=rows[0], user_vector=vector),
                                      repeats)
    return {"fold_in_p50_ms": fold_p50, "fold_in_p99_ms": fold_p99, "top10_items": int(plays.shape[1]),
            "top10_p50_ms": top_p50, "top10_p99_ms": top_p99}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SIZES), choices=sorted(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--serving", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.iterations, args.threads, args.serving)))
        return
    rows, ratios, serving = [], [], None
    for nnz in args.sizes:
        measured: dict[str, list[dict]] = {library: [] for library in LIBRARIES}
        for repeat in range(args.repeats):
            for library in measured:
                command = [sys.executable, "-m", "bench.scaling", "--worker", library, "--sizes", str(nnz),
                           "--iterations", str(args.iterations), "--threads", str(args.threads)]
                if library == "ours" and nnz == max(args.sizes) and repeat == 0:
                    command.append("--serving")
                result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
                serving = result if "fold_in_p99_ms" in result else serving
                measured[library].append(result)
                print(library, json.dumps(result), flush=True)
        best = {library: (min(r["seconds_per_iteration"] for r in results), max(r["fit_peak_mib"] for r in results))
                for library, results in measured.items()}
        for library, (seconds, peak) in best.items():
            shape = measured[library][0]["shape"]
            rows.append([f"{measured[library][0]['nnz']:,}", "x".join(map(str, shape)), library,
                         f"{seconds:.2f}", f"{peak:.0f}"])
        ratios.append(f"{nnz / 1e6:g}M: time {best['ours'][0] / best['implicit'][0]:.2f}x "
                      f"({best[THREE_STEPS][0] / best['implicit'][0]:.2f}x with 3 CG steps), "
                      f"peak {best['ours'][1] / best['implicit'][1]:.2f}x")
    body = (f"k=64, {args.threads} threads, {args.iterations} iterations timed, fastest of {args.repeats} fits; "
            f"ours at its default 2 CG steps per sweep and at implicit's 3. Peak = the fit's largest peak RSS above "
            f"the RSS before it (input matrix already built; implicit is given its float32 confidence matrix, "
            f"ours the raw float64 plays it converts itself).\n\n"
            + markdown_table(["nonzeros", "users x items", "library", "s / iteration", "fit peak MiB"], rows)
            + "\n\nOurs / implicit (targets: time at most 1.5x, peak at most 2x): " + "; ".join(ratios) + ".")
    if serving:
        body += (f"\n\nServing (ours, k=64, one thread each call): fold-in of a user with 500 plays "
                 f"p50 {serving['fold_in_p50_ms']:.2f} ms, p99 {serving['fold_in_p99_ms']:.2f} ms; "
                 f"top-10 among {serving['top10_items']:,} items p50 {serving['top10_p50_ms']:.2f} ms, "
                 f"p99 {serving['top10_p99_ms']:.2f} ms.")
    print(body)
    write_section("scaling", "Implicit ALS at 1M and 10M nonzeros; fold-in and top-10 latency", body,
                  "python -m bench.scaling")


if __name__ == "__main__":
    main()
