"""Reading Exportify CSVs: list fields, features, missing columns, and the real EMERGIFY export."""

from __future__ import annotations

import csv
import io

import pytest

from tables.errors import InvalidMessage
from tables.exportify import parse_tracks, read_tracks
from tables.track import FEATURES, Track

HEADER = (
    "Spotify ID,Artist IDs,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),"
    "Popularity,Added By,Added At,Genres,Danceability,Energy,Key,Loudness,Mode,Speechiness,"
    "Acousticness,Instrumentalness,Liveness,Valence,Tempo,Time Signature"
)
WITH_FEATURES = (
    '5P6n,"a1,a2","Just a Little","Album","Lauren Faith,Slaughter Beach, Dog",2018-08-16,223793,'
    '38,spotify:user:x,2018-08-28T19:51:58Z,"maine hip hop,pop",0.781,0.588,6,-8.09,0,0.192,'
    "0.248,0.156,0.134,0.515,109.929,4"
)
WITHOUT_FEATURES = '2ERN,"a3","Other","Album","B. Aull",2018,1000,0,x,y,"",,,,,,,,,,,,'


def parse(text: str) -> list[Track]:
    return list(parse_tracks(io.StringIO(text)))


def test_a_row_maps_to_a_track_with_lists_and_features(tmp_path):
    path = tmp_path / "playlist.csv"
    path.write_text("\ufeff" + HEADER + "\n" + WITH_FEATURES + "\n", encoding="utf-8")

    [track] = read_tracks(path)

    assert track.item_id == "5P6n"
    assert track.name == "Just a Little"
    assert track.artists == ["Lauren Faith", "Slaughter Beach, Dog"]
    assert track.genres == ["maine hip hop", "pop"]
    assert (track.popularity, track.release_date) == (38.0, "2018-08-16")
    assert track.feature_vector() == [0.781, 0.588, 6, -8.09, 0, 0.192, 0.248, 0.156, 0.134, 0.515, 109.929, 4]


def test_empty_feature_columns_give_no_features_and_empty_genres_no_genres():
    [track] = parse(HEADER + "\n" + WITHOUT_FEATURES + "\n")

    assert track.features is None
    assert track.genres == []
    assert track.release_date == "2018"


def test_a_file_without_the_required_columns_names_them():
    with pytest.raises(InvalidMessage, match="lacks columns Spotify ID, Artist Name\\(s\\)"):
        parse("Track Name,Album Name\nSong,Album\n")


def test_incomplete_feature_columns_are_refused():
    with pytest.raises(InvalidMessage, match="lacks Tempo"):
        parse("Spotify ID,Track Name,Artist Name(s),Danceability,Energy,Key,Loudness,Mode,"
              "Speechiness,Acousticness,Instrumentalness,Liveness,Valence,Time Signature\n")


@pytest.mark.parametrize(
    "change, reason",
    [
        ((",0.781,", ",lots,"), "'Danceability' must be a number"),
        ((",0.781,", ",,"), "audio features are partly empty: Danceability"),
        (("5P6n,", ","), "'item_id' must be a non-empty string"),
    ],
)
def test_a_bad_row_names_its_line_and_reason(change, reason):
    with pytest.raises(InvalidMessage, match=f"<csv>:3: {reason}"):
        parse(HEADER + "\n" + WITHOUT_FEATURES + "\n" + WITH_FEATURES.replace(*change) + "\n")


def test_every_real_track_parses_with_features_and_genre_lists(emergify_csv):
    tracks = list(read_tracks(emergify_csv))

    assert len(tracks) == 4_470
    assert len({t.item_id for t in tracks}) == 4_470
    assert all(t.features is not None and len(t.feature_vector()) == len(FEATURES) for t in tracks)
    with open(emergify_csv, encoding="utf-8-sig", newline="") as text:
        artist_ids = [row["Artist IDs"].split(",") for row in csv.DictReader(text)]
    # Names with ", " inside ("Slaughter Beach, Dog") stay whole: one name per artist id.
    assert [len(t.artists) for t in tracks] == [len(ids) for ids in artist_ids]
    assert sum(bool(t.genres) for t in tracks) == 2_565
    assert all(isinstance(t.genres, list) and all(g == g.strip() and g for g in t.genres) for t in tracks)
    assert all(Track.from_bytes(t.to_bytes()) == t for t in tracks)
