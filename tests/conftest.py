"""Fixtures shared by every test: where the real data sets are, and the CI rule for missing ones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamproc.settings import Settings


def require(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false; under CI=true fail instead, as missing data is a bug there."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Return the directory of the shared data sets (``STREAMPROC_DATA`` or ../shared/data)."""
    root = Path(os.environ.get("STREAMPROC_DATA") or Settings().data)
    require(root.is_dir(), f"data sets not found at {root}")
    return root


@pytest.fixture(scope="session")
def lastfm_dir(data_root: Path) -> Path:
    """Return the HetRec Last.fm directory."""
    path = data_root / "lastfm-2k"
    require((path / "user_artists.dat").is_file(), f"{path}/user_artists.dat not found")
    return path


@pytest.fixture(scope="session")
def emergify_csv(data_root: Path) -> Path:
    """Return the EMERGIFY catalogue (Exportify CSV)."""
    path = data_root / "emergify" / "every_fresh_find.csv"
    require(path.is_file(), f"{path} not found")
    return path
