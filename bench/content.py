"""Do audio-feature neighbours share genres? EMERGIFY's every_fresh_find.csv, against random tracks.

Run ``python -m bench.content``. Features are the twelve Spotify audio features,
standard-scaled over the catalogue. For every track with genres as the seed, the score is
the share of its 10 nearest tracks sharing at least one genre with it (a neighbour without
genres shares none); the baseline draws 10 other tracks at random (seeded). The pool is
either every track or only the tracks that have genres. Also reports the silhouette of
k-means over the candidate numbers of clusters.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

from bench.results import markdown_table, write_section
from models.clustering import choose_k
from models.content import nearest_items
from streamproc.settings import Settings
from tables.exportify import read_tracks
from tables.track import FEATURES

N = 10


def genre_share(X_scaled: np.ndarray, genres: list[set[str]], metric: str | None, seed: int = 0) -> float:
    """Return the mean share of each genre-tagged track's N neighbours (random ones when ``metric`` is None) sharing a genre."""
    rng = np.random.default_rng(seed)
    shares = []
    for seed_track in (i for i, tags in enumerate(genres) if tags):
        if metric is None:
            others = rng.choice(len(genres) - 1, size=N, replace=False)
            neighbours = others + (others >= seed_track)
        else:
            neighbours = nearest_items(X_scaled, seed_track, n=N, metric=metric)[0]
        shares.append(np.mean([bool(genres[seed_track] & genres[j]) for j in neighbours]))
    return float(np.mean(shares))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(Settings().data) / "emergify" / "every_fresh_find.csv")
    args = parser.parse_args(argv)
    tracks = [track for track in read_tracks(args.data) if track.features is not None]
    raw = np.array([[track.features[name] for name in FEATURES] for track in tracks])
    all_genres = [set(track.genres) for track in tracks]
    tagged = np.flatnonzero([bool(tags) for tags in all_genres])
    rows = []
    for pool, members in (("every track", np.arange(len(tracks))), ("tracks with genres", tagged)):
        X_scaled = StandardScaler().fit_transform(raw[members])
        genres = [all_genres[i] for i in members]
        for metric in ("manhattan", "euclidean", "cosine", None):
            share = genre_share(X_scaled, genres, metric)
            rows.append([pool, len(members), metric or "random baseline", f"{share:.3f}"])
            print(rows[-1], flush=True)
    best, silhouettes = choose_k(raw)
    body = (f"{len(tracks)} tracks with audio features, {len(tagged)} with genres (the seeds); "
            f"share of the {N} nearest tracks sharing at least one genre with the seed.\n\n"
            + markdown_table(["pool", "tracks", "neighbours by", f"share of {N} sharing a genre"], rows)
            + "\n\nk-means on the scaled features, silhouette on a 2,000-track sample: "
            + ", ".join(f"k={k}: {s:.3f}" for k, s in silhouettes.items()) + f" (best k={best}).")
    print(body)
    write_section("content", "Content similarity: do audio-feature neighbours share a genre?", body,
                  "python -m bench.content")


if __name__ == "__main__":
    main()
