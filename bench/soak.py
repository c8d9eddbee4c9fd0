"""Repeated faults: rounds of SIGKILL and restart under a steady replay, every event accounted for.

    .venv/bin/python -m bench.soak [--rounds N] [--users U] [--events E] [--rate R] [--seed S] [--write]

One embedded broker and two workers run for the whole soak. Each round sends E simulated listening
events (seeded) at R a second; at a random moment of the round (seeded) a random one of the two
workers is SIGKILLed and started again at once on the same data directory, as a supervisor would.
The round ends when every user's event count, as the workers hold it (``/api/partitions/``),
equals what was produced so far, or after a timeout; whatever differs then is counted as lost
(held short) or doubled (held over). The time to resume is from the kill until every partition
that had events has been applied past where it stood at the kill: the survivor or the restarted
worker processes that partition's new events again. With ``--write`` the table goes to the
``soak`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.results import markdown_table, write_section
from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.cluster import (Producer, Workers, send_listens, simulated, split, stream_stats,
                                      wait_for_histories, wait_until)

SECTION, TITLE = "soak", "Repeated faults: SIGKILL and restart of a worker, every round"
WORKERS = ("w1", "w2")
# How long a round may take to settle after its last event, and a kill to be recovered from.
SETTLE_TIMEOUT_S = 120.0
# The kill lands within this share of a round's sending, never at its very start or end.
KILL_WINDOW = (0.15, 0.85)


@dataclasses.dataclass(frozen=True)
class Soak:
    """What a soak runs: rounds of ``events`` events of ``users`` users at ``rate`` a second, from ``seed``."""

    rounds: int = 10
    users: int = 500
    events: int = 3000
    rate: float = 200.0
    seed: int = 13


@dataclasses.dataclass
class Round:
    """What one round saw: the worker killed (and whether it was the trainer) and when, how long until
    every partition moved on again, and the events held short (lost) and over (doubled), with the users
    concerned."""

    number: int
    killed: str
    was_trainer: bool
    kill_at_s: float
    resume_s: float | None
    events: int
    lost: int
    doubled: int
    users_short: list[str]
    users_over: list[str]


def compare(expected: Counter[str], held: dict[str, int]) -> tuple[int, int, list[str], list[str]]:
    """Return the events held short of ``expected`` and over it, and the users short and over.

    >>> compare(Counter(a=3, b=2, c=1), {"a": 3, "b": 1, "c": 2, "d": 1})
    (1, 2, ['b'], ['c', 'd'])
    """
    users = sorted(set(expected) | set(held))
    short = [u for u in users if held.get(u, 0) < expected[u]]
    over = [u for u in users if held.get(u, 0) > expected[u]]
    lost = sum(expected[u] - held.get(u, 0) for u in short)
    doubled = sum(held.get(u, 0) - expected[u] for u in over)
    return lost, doubled, short, over


def log_ends(producer: Producer) -> dict[int, int]:
    """Return partition → the highest ``listens`` offset delivered so far."""
    ends: dict[int, int] = {}
    for position in producer.positions:
        if position is not None:
            ends[position[1]] = max(ends.get(position[1], -1), position[2])
    return ends


def applied(workers: Workers) -> dict[int, int]:
    """Return partition → the ``listens`` offset applied through, as the running workers report it."""
    through: dict[int, int] = {}
    for worker in workers.running():
        try:
            status, body = worker.get_json("/api/partitions/", timeout=2.0)
        except OSError:
            continue
        for partition, held in (body.get("partitions", {}) if status == 200 else {}).items():
            through[int(partition)] = max(through.get(int(partition), -1), held["applied_through"])
    return through


def wait_resumed(workers: Workers, marks: dict[int, int], since: float, timeout_s: float) -> float | None:
    """Return the seconds from ``since`` (``time.monotonic()``) until every partition of ``marks`` is
    applied through its mark (None: not within ``timeout_s``)."""
    try:
        wait_until(lambda: all(applied(workers).get(p, -1) >= mark for p, mark in marks.items()),
                   timeout_s, "every partition applied past where it stood at the kill")
    except AssertionError:
        return None
    return time.monotonic() - since


def play_round(number: int, workers: Workers, producer: Producer, listens: list, sent: Counter[str],
               rng: random.Random, rate: float) -> Round:
    """Send ``listens`` at ``rate`` while killing and restarting one worker; return what the round saw.

    ``sent`` (every event produced so far) is updated with this round's events."""
    sender = threading.Thread(target=send_listens, args=(producer, listens, rate))
    duration = len(listens) / rate
    kill_at = rng.uniform(*KILL_WINDOW) * duration
    victim = rng.choice(WORKERS)
    sender.start()
    time.sleep(kill_at)
    target = next(w for w in workers.running() if w.data_dir.name == victim)
    was_trainer = stream_stats(target).get("trainer") is not None
    target.kill()
    killed = time.monotonic()
    marks = log_ends(producer)
    restarted = workers.start(victim, wait=False)
    resume = wait_resumed(workers, marks, killed, SETTLE_TIMEOUT_S)
    sender.join()
    producer.flush()
    sent.update(listen.user_id for listen in listens)
    restarted.wait_ready()
    held = wait_for_histories(workers, sent, SETTLE_TIMEOUT_S)
    lost, doubled, short, over = compare(sent, held)
    return Round(number, victim, was_trainer, kill_at, resume, sum(sent.values()), lost, doubled, short, over)


def run(bootstrap: str, root: Path, soak: Soak, report: Callable[[Round], None] | None = None) -> list[Round]:
    """Run ``soak`` against the broker at ``bootstrap`` with workers under ``root``; return its rounds.

    ``report``, when given, is called with each round as it ends."""
    rng = random.Random(soak.seed)
    listens = simulated(soak.users, soak.rounds * soak.events, soak.seed)
    producer = Producer(bootstrap)
    sent: Counter[str] = Counter()
    rounds = []
    with Workers(bootstrap, root) as workers:
        first = [workers.start(name) for name in WORKERS]
        wait_until(lambda: split(first), SETTLE_TIMEOUT_S, "the two workers split the partitions")
        for number in range(soak.rounds):
            chunk = listens[number * soak.events:(number + 1) * soak.events]
            rounds.append(play_round(number + 1, workers, producer, chunk, sent, rng, soak.rate))
            if report is not None:
                report(rounds[-1])
    return rounds


def rounds_table(rounds: list[Round]) -> str:
    """Return one row per round and a last row summing the soak up (the worst of each column: a round's
    lost and doubled count every event so far)."""
    rows = [[r.number, r.killed + (" (trainer)" if r.was_trainer else ""), f"{r.kill_at_s:.1f}", _seconds(r.resume_s), f"{r.events:,}", r.lost, r.doubled,
             ", ".join(r.users_short[:5] + r.users_over[:5]) or "-"] for r in rounds]
    resumes = [r.resume_s for r in rounds]
    worst = None if None in resumes else max(resumes, default=None)
    rows.append([f"all {len(rounds)}", "-", "-", f"worst {_seconds(worst)}", f"{rounds[-1].events:,}" if rounds else 0,
                 max((r.lost for r in rounds), default=0), max((r.doubled for r in rounds), default=0), "-"])
    return markdown_table(["round", "killed", "kill at s", "resumed after s", "events so far", "lost", "doubled",
                           "users off"], rows)


def _seconds(value: float | None) -> str:
    return "not resumed" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Run a soak as the options ask, print its table and optionally write it; return 1 if any event
    was lost or doubled."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    defaults = Soak()
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help=f"rounds (default: {defaults.rounds})")
    parser.add_argument("--users", type=int, default=defaults.users, help=f"listeners (default: {defaults.users})")
    parser.add_argument("--events", type=int, default=defaults.events,
                        help=f"events per round (default: {defaults.events})")
    parser.add_argument("--rate", type=float, default=defaults.rate,
                        help=f"events a second (default: {defaults.rate:g})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed (default: {defaults.seed})")
    parser.add_argument("--write", action="store_true", help="write the table to bench/RESULTS.md")
    args = parser.parse_args(argv)
    soak = Soak(args.rounds, args.users, args.events, args.rate, args.seed)
    root = Path(tempfile.mkdtemp(prefix="streamproc-soak-"))

    def report(r: Round) -> None:
        print(f"round {r.number}: killed {r.killed}{' (trainer)' if r.was_trainer else ''} at {r.kill_at_s:.1f} s, resumed after {_seconds(r.resume_s)} s, "
              f"{r.events:,} events, lost {r.lost}, doubled {r.doubled}", file=sys.stderr, flush=True)

    with EmbeddedBroker(port=free_port()) as broker:
        rounds = run(broker.bootstrap, root, soak, report)
    table = rounds_table(rounds)
    print(table)
    if args.write:
        body = (f"One broker and two workers with the default settings for the whole soak; each round sends "
                f"{soak.events:,} simulated events of {soak.users:,} users at {soak.rate:g} a second, and "
                "SIGKILLs one of the workers (seeded; \"(trainer)\": it was the leader, training) at a random moment of it, then starts it again at once "
                "on the same data directory. Lost and doubled: events each user's count, as the workers hold "
                "it, is short of or over what was produced, once the round settled. Resumed after: from the "
                "kill until every partition is applied past where it stood at the kill. Worker logs are in "
                f"the soak's temporary directory.\n\n{table}")
        path = write_section(SECTION, TITLE, body, command="python -m bench.soak " + " ".join(sys.argv[1:]))
        print(f"written to {path}", file=sys.stderr)
    return int(any(r.lost or r.doubled for r in rounds))


if __name__ == "__main__":
    sys.exit(main())
