"""The web view in headless Chromium, against one worker fed with Last.fm, EMERGIFY and simulated listeners.

One broker and one worker serve every test of this module (module-scoped fixture): Last.fm users
get ALS lists, simulated listeners of the EMERGIFY catalogue get content lists (the worker trains
its one model early, on the first Last.fm users, so the catalogue's tracks stay unknown to it),
and the catalogue gives the clusters. Each page is loaded with ``--dump-dom`` after its script
ran, checked in the DOM, and screenshotted under the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.processes import WorkerProcess
from tables.lastfm import read_listens
from tests.conftest import require
from tests.integration.conftest import streamproc

pytestmark = pytest.mark.integration
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)
LASTFM_EVENTS = 92834
SIMULATED_EVENTS = 20000
EMERGIFY_TRACKS = 4470
FEED_BUDGET_S = 240


class Chromium:
    """Headless Chromium, run once per page: the DOM after the scripts ran, and a screenshot."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.binary = binary
        self.profile = profile

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)

    def dom(self, url: str, screenshot: Path | None = None) -> str:
        """Return the page's DOM after 5 s of virtual time (two refreshes of the overview), and
        save a 1200×900 screenshot of it to ``screenshot`` when given (in the same run)."""
        shot = [f"--screenshot={screenshot}", "--window-size=1200,900"] if screenshot else []
        dom = self._run("--virtual-time-budget=5000", "--dump-dom", *shot, url).stdout
        if screenshot:
            assert screenshot.stat().st_size > 5000, f"{screenshot} looks empty"
        return dom


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    """Debian's chromium (installed by .ci/run); a missing one skips, or fails under CI=true."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    require(binary is not None, "chromium is not installed (apt-get install chromium)")
    return Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))


class Fed:
    """The running worker and users of each kind of list."""

    def __init__(self, worker: WorkerProcess, hybrid_user: str, content_user: str) -> None:
        self.worker = worker
        self.hybrid_user = hybrid_user
        self.content_user = content_user

    def url(self, path: str) -> str:
        return self.worker.url + path


def _wait(done, deadline: float) -> None:
    while not done():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.5)


def _sources(worker: WorkerProcess, user: str) -> set[str]:
    status, body = worker.get_json(f"/api/users/{urllib.parse.quote(user, safe='')}/")
    return {item["source"] for item in body["recommendations"]["items"]} if status == 200 else set()


@pytest.fixture(scope="module")
def fed(lastfm_dir: Path, emergify_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    """One broker and worker with the catalogue, Last.fm and 200 simulated listeners streamed in."""
    lastfm_users = list(dict.fromkeys(listen.user_id for listen in read_listens(lastfm_dir / "user_artists.dat")))
    root = tmp_path_factory.mktemp("web")
    with EmbeddedBroker(port=free_port()) as broker:
        worker = WorkerProcess(broker.bootstrap, f"sp-{uuid.uuid4().hex[:8]}", root / "w1", free_port(),
                               retrain_events="10000000", retrain_seconds="3600", batch_size="5000")
        try:
            started = time.monotonic()
            catalog = streamproc("replay", "catalog", str(emergify_csv), "--broker", broker.bootstrap)
            assert catalog.returncode == 0, catalog.stderr
            worker.wait_ready()
            # Listens only once the worker's global catalogue has every track's features.
            _wait(lambda: worker.get_json("/api/clusters/")[1]["tracks"] == EMERGIFY_TRACKS, started + FEED_BUDGET_S)
            for args in (
                ("lastfm", str(lastfm_dir)),
                ("simulate", "--users", "200", "--events", str(SIMULATED_EVENTS), "--seed", "1",
                 "--catalog", str(emergify_csv)),
            ):
                replay = streamproc("replay", *args, "--broker", broker.bootstrap)
                assert replay.returncode == 0, replay.stderr
            print(f"replayed in {time.monotonic() - started:.1f} s")
            deadline = started + FEED_BUDGET_S
            hybrid_user = content_user = None
            while time.monotonic() < deadline:
                stats = worker.get_json("/api/stats/")[1]
                if stats["events"] >= LASTFM_EVENTS + SIMULATED_EVENTS and stats["clusters"]:
                    hybrid_user = hybrid_user or next((u for u in lastfm_users[:50] if "hybrid" in _sources(worker, u)), None)
                    content_user = content_user or next(
                        (f"sim-user-{i}" for i in range(50) if "content" in _sources(worker, f"sim-user-{i}")), None)
                    if hybrid_user and content_user:
                        break
                time.sleep(1)
            assert hybrid_user and content_user, f"no hybrid or content lists within {FEED_BUDGET_S} s: {stats}"
            print(f"worker fed in {time.monotonic() - started:.1f} s")
            yield Fed(worker, hybrid_user, content_user)
        finally:
            worker.stop()


def _text(dom: str, element_id: str) -> str:
    match = re.search(rf"id=\"{element_id}\"[^>]*>([^<]*)<", dom)
    assert match, f"no element #{element_id}"
    return match.group(1)


def test_overview_shows_live_counters(fed: Fed, chromium: Chromium, tmp_path: Path) -> None:
    dom = chromium.dom(fed.url("/"), tmp_path / "overview.png")
    stats = fed.worker.get_json("/api/stats/")[1]
    assert int(re.search(r'data-refreshes="(\d+)"', dom).group(1)) >= 2  # the script fetched twice
    assert _text(dom, "refreshed").startswith("updated ")
    assert _text(dom, "users") == f"{stats['users']:,}"
    assert _text(dom, "tracks") == f"{stats['tracks']:,}"
    assert _text(dom, "events") == f"{stats['events']:,}"
    assert re.fullmatch(r"[\d,.]+", _text(dom, "events_per_second"))
    assert re.fullmatch(r"[\d,]+", _text(dom, "lag")) and re.fullmatch(r"[\d,]+", _text(dom, "dead_letters"))
    assert _text(dom, "model_version") == str(stats["model"]["version"]) != "0"
    assert _text(dom, "trained_at").endswith(" UTC")
    assert 'name="q"' in dom  # the search box


def test_user_page_shows_reasons_most_played_and_features(fed: Fed, chromium: Chromium, tmp_path: Path) -> None:
    for user, source in ((fed.hybrid_user, "hybrid"), (fed.content_user, "content")):
        url = fed.url(f"/users/{urllib.parse.quote(user, safe='')}/")
        dom = chromium.dom(url, tmp_path / f"user-{source}.png")
        assert f"<h1>User {user}</h1>" in dom
        recommended = re.search(r"<ol id=\"recommendations\">(.*?)</ol>", dom, re.S).group(1)
        assert recommended.count("<li>") == 10
        assert f"src-{source}" in recommended
        reason = "because you played " if source == "hybrid" else "sounds like "
        assert reason in recommended
        if source == "hybrid":  # the badge says which part of the blend the item owes most
            assert re.search(r"hybrid, mostly (ALS|EASE)</span>", recommended)
        assert re.search(r"<ol id=\"most-played\">(.*?)</ol>", dom, re.S).group(1).count("<li>") >= 1
        if source == "content":  # simulated listeners of the catalogue: tracks with audio features
            chart = re.search(r"<svg[^>]*class=\"feature-chart\".*?</svg>", dom, re.S).group(0)
            assert "their favourites" in chart and "recommended" in chart and "valence" in chart


def test_clusters_page_shows_projection_sizes_and_silhouette(fed: Fed, chromium: Chromium, tmp_path: Path) -> None:
    dom = chromium.dom(fed.url("/clusters/"), tmp_path / "clusters.png")
    view = fed.worker.get_json("/api/clusters/")[1]
    assert view["tracks"] == EMERGIFY_TRACKS and view["sample"] == 3000 and sum(view["sizes"]) == EMERGIFY_TRACKS
    assert dom.count("<circle") == 3000
    assert re.fullmatch(r"-?0\.\d{3}", _text(dom, "silhouette"))
    sizes = re.search(r"<table id=\"sizes\">(.*?)</table>", dom, re.S).group(1)
    assert sizes.count("<tr>") == view["k"] + 1


def test_search_finds_a_user_or_tracks(fed: Fed, chromium: Chromium, tmp_path: Path) -> None:
    dom = chromium.dom(fed.url(f"/search?q={urllib.parse.quote(fed.content_user)}"))
    assert f"<h1>User {fed.content_user}</h1>" in dom  # redirected to the user's page
    dom = chromium.dom(fed.url("/search?q=LOVE"), tmp_path / "search.png")
    rows = re.findall(r"<tr><td>([^<]*)</td>", re.search(r"<table id=\"results\">(.*?)</table>", dom, re.S).group(1))
    assert 1 <= len(rows) <= 20 and all("love" in row.lower() for row in rows)
    found = fed.worker.get_json("/api/search?q=love")[1]
    assert found["user"] is None and found["total"] > 20 and len(found["tracks"]) == 20
    assert "No user or track matches" in chromium.dom(fed.url("/search?q=zzqqxx-nothing"))


def _get(url: str) -> tuple[int, str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
            kind = response.headers.get_content_type()
            return response.status, kind, json.loads(body) if kind == "application/json" else body
    except urllib.error.HTTPError as error:
        body = error.read()
        kind = error.headers.get_content_type()
        return error.code, kind, json.loads(body) if kind == "application/json" else body


@pytest.mark.parametrize(("path", "status"), [
    ("/api/users/no-such-user/", 404),
    (f"/api/users/{'u' * 300}/", 400),
    ("/api/search", 400),
    ("/api/search?q=", 400),
    ("/api/search?q=%20%20", 400),
    (f"/api/search?q={'a' * 201}", 400),
])
def test_bad_parameters_get_a_4xx_with_a_json_message(fed: Fed, path: str, status: int) -> None:
    code, kind, body = _get(fed.url(path))
    assert (code, kind) == (status, "application/json")
    assert isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize(("path", "status"), [
    ("/users/no-such-user/", 404),
    (f"/users/{'u' * 300}/", 400),
    ("/search?q=", 400),
    (f"/search?q={'a' * 201}", 400),
])
def test_bad_parameters_on_pages_get_a_4xx_page(fed: Fed, path: str, status: int) -> None:
    code, kind, _ = _get(fed.url(path))
    assert (code, kind) == (status, "text/html")


def test_every_documented_path_answers(fed: Fed) -> None:
    code, _, spec = _get(fed.url("/api/openapi.json"))
    assert code == 200 and spec["openapi"].startswith("3.")
    examples = {"user_id": urllib.parse.quote(fed.hybrid_user, safe=""), "kind": "discover", "partition": "0",
                "item_id": urllib.parse.quote(fed.worker.get_json("/api/search?q=love")[1]["tracks"][0]["item_id"])}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert method == "get"
            url = path.format(**examples)
            required = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p["required"]]
            if required:
                url += "?" + urllib.parse.urlencode(dict.fromkeys(required, "love"))
            code, kind, body = _get(fed.url(url))
            assert str(code) in operation["responses"] and kind == "application/json", (url, code)
            assert code == 200 or body["error"], url
    assert {"/api/stats/", "/api/users/{user_id}/", "/api/clusters/", "/api/search"} <= set(spec["paths"])


def _hostile_values(seed: int = 13, random_count: int = 6) -> list[str]:
    """Return URL-encoded parameter values a careless or hostile client sends: very long, non-UTF-8
    escapes, NUL bytes, negative, huge and non-finite numbers, path traversal, and seeded random bytes."""
    rng = random.Random(seed)
    fixed = [
        "", "%20", "u" * 5000, "%ff%fe%fd", "%c3%28", "%00", "a%00b", "-1", "0", "-99999999999999999999",
        "1" + "0" * 40, "1e309", "NaN", "Infinity", "3.5", "..%2F..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e",
        "%2F", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "%E2%80%AE%F0%9F%8E%B5", "%25", "%",
    ]
    randoms = [urllib.parse.quote(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), safe="")
               for _ in range(random_count)]
    return fixed + randoms


def test_every_api_path_survives_hostile_parameters(fed: Fed) -> None:
    """Each OpenAPI path, each parameter in turn given each hostile value (the others a good one),
    answers 200 or a 4xx within the client's timeout: never a 5xx, never a hang."""
    spec = _get(fed.url("/api/openapi.json"))[2]
    good = {"user_id": urllib.parse.quote(fed.hybrid_user, safe=""), "kind": "discover",
            "item_id": urllib.parse.quote(fed.worker.get_json("/api/search?q=love")[1]["tracks"][0]["item_id"]),
            "q": "love", "n": "10", "partition": "0"}
    failures = []
    tried = 0
    for path, operations in spec["paths"].items():
        parameters = operations["get"].get("parameters", [])
        for target in parameters:
            for value in _hostile_values():
                values = {p["name"]: value if p is target else good[p["name"]] for p in parameters}
                url = path.format(**{p["name"]: values[p["name"]] for p in parameters if p["in"] == "path"})
                query = "&".join(f"{p['name']}={values[p['name']]}" for p in parameters if p["in"] == "query")
                url += f"?{query}" if query else ""
                code = _get(fed.url(url))[0]
                tried += 1
                if not (code == 200 or 400 <= code < 500):
                    failures.append((code, url[:120]))
    assert tried > 150 and not failures, failures
