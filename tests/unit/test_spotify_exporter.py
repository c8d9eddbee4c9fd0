"""Publishing a list as a playlist against the fake API: create, replace, large lists."""

from __future__ import annotations

from spotify_fake import ME, SpotifyFake, config, fake, track_id  # noqa: F401

from streamproc.spotify.client import user_client
from streamproc.spotify.config import SpotifyConfig
from streamproc.spotify.exporter import publish


def _uris(ids: list[str]) -> list[str]:
    return [f"spotify:track:{i}" for i in ids]


def test_a_missing_playlist_is_created_private_and_filled_in_order(fake, config):
    fake.seed_user_token(config.cache)
    ids = [track_id(n) for n in (3, 1, 2)]
    playlist_id, created = publish(user_client(config), "For u1", ids, "test")
    assert created
    [create] = fake.calls("POST", "/v1/me/playlists")
    assert create.body["name"] == "For u1" and create.body["public"] is False
    [replace] = fake.calls("PUT", f"/v1/playlists/{playlist_id}/items")
    assert replace.body == {"uris": _uris(ids)}


def test_an_existing_playlist_of_the_account_is_replaced_even_on_a_later_page(fake, config):
    fake.seed_user_token(config.cache)
    for n in range(4):
        fake.add_playlist(f"Other {n}", ME, [])
    fake.add_playlist("For u1", "someone-else", [])  # same name, not ours: left alone
    target = fake.add_playlist("For u1", ME, list(fake.tracks.values()))
    playlist_id, created = publish(user_client(config), "For u1", [track_id(5)], "test")
    assert (playlist_id, created) == (target, False)
    assert len(fake.calls("GET", "/v1/me/playlists")) == 3  # 8 playlists, pages of 3
    assert not fake.calls("POST", "/v1/me/playlists")
    assert [e["item"]["id"] for e in fake.playlists[target]["entries"]] == [track_id(5)]


def test_a_list_longer_than_one_request_is_replaced_then_appended(tmp_path):
    with SpotifyFake(n_tracks=230) as big:
        config = SpotifyConfig.from_env(big.environ(tmp_path / "token.json"))
        big.seed_user_token(config.cache)
        ids = [track_id(n) for n in range(230)]
        playlist_id, _ = publish(user_client(config), "Long", ids, "test")
        assert [len(c.body["uris"]) for c in big.calls("PUT", f"/v1/playlists/{playlist_id}/items")] == [100]
        assert [len(c.body) for c in big.calls("POST", f"/v1/playlists/{playlist_id}/items")] == [100, 30]
        assert [e["item"]["id"] for e in big.playlists[playlist_id]["entries"]] == ids
