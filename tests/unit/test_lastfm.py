"""Reading the HetRec Last.fm files: hand-made edge cases, then the whole real data set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tables.errors import InvalidMessage
from tables.lastfm import ARTISTS_FILE, LISTENS_FILE, read_artists, read_listens
from tables.listen import Listen
from tables.track import Track


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def test_each_row_is_one_play_with_its_weight_as_count(tmp_path):
    path = write(tmp_path / LISTENS_FILE, "userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t1\r\n7\t51\t40")

    listens = list(read_listens(path, start=100.0))

    assert [(e.user_id, e.item_id, e.event, e.count) for e in listens] == [
        ("2", "51", "play", 13883),
        ("2", "52", "play", 1),
        ("7", "51", "play", 40),
    ]
    assert [e.ts for e in listens] == sorted({e.ts for e in listens})
    assert listens[0].ts == 100.0


def test_blank_lines_are_ignored(tmp_path):
    path = write(tmp_path / LISTENS_FILE, "userID\tartistID\tweight\r\n2\t51\t3\r\n\r\n")

    assert len(list(read_listens(path, start=0.0))) == 1


@pytest.mark.parametrize(
    "row, reason",
    [
        ("2\t51", "expected 3 tab-separated fields"),
        ("2\t51\tmany", "weight must be a whole number"),
        ("2\t51\t0", "'count' must be between 1"),
        ("\t51\t3", "'user_id' must be a non-empty string"),
    ],
)
def test_a_bad_row_names_its_line_and_reason(tmp_path, row, reason):
    path = write(tmp_path / LISTENS_FILE, f"userID\tartistID\tweight\r\n2\t51\t3\r\n{row}\r\n")

    with pytest.raises(InvalidMessage, match=f"{LISTENS_FILE}:3: {reason}"):
        list(read_listens(path, start=0.0))


def test_a_file_with_another_header_is_refused(tmp_path):
    path = write(tmp_path / LISTENS_FILE, "userID\tfriendID\r\n2\t275\r\n")

    with pytest.raises(InvalidMessage, match="expected \\['userID', 'artistID', 'weight'\\]"):
        next(read_listens(path))


def test_artists_keep_quotes_and_skip_rows_that_name_nothing(tmp_path):
    path = write(
        tmp_path / ARTISTS_FILE,
        "id\tname\turl\tpictureURL\n"
        '1686\t"Weird Al" Yankovic\thttp://www.last.fm/music/x\t\n'
        "2\tBjörk\r\n"
        "3\t  \thttp://x\thttp://y\n"
        "orphan line\n",
    )

    tracks = list(read_artists(path))

    assert tracks == [
        Track(item_id="1686", name='"Weird Al" Yankovic', artists=['"Weird Al" Yankovic']),
        Track(item_id="2", name="Björk", artists=["Björk"]),
    ]


def test_every_real_play_is_a_valid_listen(lastfm_dir):
    listens = list(read_listens(lastfm_dir / LISTENS_FILE))

    assert len(listens) == 92_834
    assert len({e.user_id for e in listens}) == 1_892
    assert len({e.item_id for e in listens}) == 17_632
    assert all(Listen.from_bytes(e.to_bytes()) == e for e in listens)


def test_every_played_artist_has_a_name(lastfm_dir):
    artists = {t.item_id: t for t in read_artists(lastfm_dir / ARTISTS_FILE)}
    played = {e.item_id for e in read_listens(lastfm_dir / LISTENS_FILE)}

    assert played <= artists.keys()
    assert artists["1"].name == "MALICE MIZER"
    assert all(Track.from_bytes(t.to_bytes()) == t for t in artists.values())
