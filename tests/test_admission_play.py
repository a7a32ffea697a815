"""Who may watch: public and unlisted rooms play for anyone, private rooms with a playback token
(members' or an embed link's), over WebRTC and LL-HLS; admitted players are counted."""

import time

import pytest
from django.core.cache import cache
from redis import client as redis_client

from organizations.models import Membership
from rooms import credentials, viewers
from rooms.models import LiveState, Visibility

from .admission_helpers import play

WEBRTC = "ws://ome.example.com:3333/app/{id}"
LLHLS = "http://ome.example.com:3333/app/{id}/llhls.m3u8"


@pytest.fixture(autouse=True)
def _room_is_live(room):
    """Players watch a room OME lists as live (the reconcile loop has confirmed it)."""
    room.live_state = LiveState.LIVE
    room.save()


@pytest.fixture
def private_room(room):
    room.visibility = Visibility.PRIVATE
    room.save()
    return room


def _with_token(url: str, token: str) -> str:
    return f"{url}?token={token}"


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.UNLISTED])
@pytest.mark.parametrize(("url", "protocol"), [(WEBRTC, "WebRTC"), (LLHLS, "LLHLS")])
def test_public_and_unlisted_rooms_play_for_anyone(client, room, visibility, url, protocol):
    room.visibility = visibility
    room.save()
    assert play(client, url.format(id=room.public_id), protocol=protocol).json() == {"allowed": True}


def test_an_unknown_room_is_refused(client, db):
    assert play(client, WEBRTC.format(id="nostream")).json() == {"allowed": False, "reason": "no such room"}


@pytest.mark.parametrize(("url", "protocol"), [(WEBRTC, "WebRTC"), (LLHLS, "LLHLS")])
def test_a_private_room_does_not_play_without_a_token(client, private_room, url, protocol):
    response = play(client, url.format(id=private_room.public_id), protocol=protocol)
    assert response.json() == {
        "allowed": False,
        "reason": "this room is private: open it from the portal or an embed link",
    }


def test_the_restream_variant_of_a_private_room_is_just_as_private(client, private_room):
    assert play(client, WEBRTC.format(id="acme-live_rtmp")).json()["allowed"] is False


@pytest.mark.parametrize(("url", "protocol"), [(WEBRTC, "WebRTC"), (LLHLS, "LLHLS")])
def test_a_members_token_plays_a_private_room_over_webrtc_and_llhls(client, private_room, team, url, protocol):
    token = credentials.mint_playback_token(room_id=private_room.pk, user_id=team.streamer.pk)
    response = play(client, _with_token(url.format(id=private_room.public_id), token), protocol=protocol)
    assert response.json() == {"allowed": True}


def test_a_token_of_a_removed_member_is_refused(client, private_room, team):
    token = credentials.mint_playback_token(room_id=private_room.pk, user_id=team.streamer.pk)
    Membership.objects.filter(user=team.streamer).delete()
    response = play(client, _with_token(WEBRTC.format(id=private_room.public_id), token))
    assert response.json()["reason"] == "you are no longer a member of this room's organization"


def test_a_token_only_plays_the_room_it_was_minted_for(client, private_room, other_room, other_team):
    token = credentials.mint_playback_token(room_id=other_room.pk, user_id=other_team.owner.pk)
    response = play(client, _with_token(WEBRTC.format(id=private_room.public_id), token))
    assert response.json() == {"allowed": False, "reason": "the playback token is for another room"}


def test_an_expired_or_tampered_token_is_refused(client, private_room, team, monkeypatch):
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - credentials.playback_token_seconds() - 5)
    old = credentials.mint_playback_token(room_id=private_room.pk, user_id=team.streamer.pk)
    monkeypatch.undo()
    response = play(client, _with_token(WEBRTC.format(id=private_room.public_id), old))
    assert response.json() == {"allowed": False, "reason": "the playback token expired: reload the player"}
    fresh = credentials.mint_playback_token(room_id=private_room.pk, user_id=team.streamer.pk)
    response = play(client, _with_token(WEBRTC.format(id=private_room.public_id), fresh[:-2] + "xx"))
    assert response.json() == {"allowed": False, "reason": "the playback token is not valid"}


def test_a_publish_credential_is_no_playback_token(client, private_room, team):
    credential = credentials.mint_publish_credential(room_id=private_room.pk, user_id=team.streamer.pk)
    response = play(client, _with_token(WEBRTC.format(id=private_room.public_id), credential))
    assert response.json()["allowed"] is False


def test_an_embed_links_token_plays_until_the_link_expires(client, private_room):
    _, link = credentials.mint_embed_link(room=private_room, lifetime_seconds=3600)
    token = credentials.mint_playback_token(room_id=private_room.pk, link=link)
    answer = play(client, _with_token(WEBRTC.format(id=private_room.public_id), token)).json()
    assert answer["allowed"] is True
    assert 3590_000 < answer["lifetime"] <= 3600_000, "OME ends the playback when the link expires"
    assert credentials.read_playback_token(token).expires_at <= link.expires_at


def test_an_embed_links_token_stops_working_when_the_links_are_withdrawn(client, private_room):
    _, link = credentials.mint_embed_link(room=private_room, lifetime_seconds=3600)
    token = credentials.mint_playback_token(room_id=private_room.pk, link=link)
    credentials.withdraw_embed_links(room=private_room)
    answer = play(client, _with_token(WEBRTC.format(id=private_room.public_id), token)).json()
    assert answer == {"allowed": False, "reason": "the embed link was withdrawn by the stream's owners"}


# --- Viewer counts ------------------------------------------------------------------------


def test_admitted_webrtc_players_are_counted_in_and_out(client, room):
    url = WEBRTC.format(id=room.public_id)
    for port in (5001, 5002, 5003):
        play(client, url, port=port)
    assert viewers.counts([room.pk]) == {room.pk: 3}
    play(client, url, status="closing", new_url=url, port=5002)
    play(client, url, status="closing", new_url=url, port=5002)  # told twice: counted once
    assert viewers.counts([room.pk]) == {room.pk: 2}


def test_a_refused_player_is_neither_counted_in_nor_out(client, private_room):
    url = WEBRTC.format(id=private_room.public_id)
    token = credentials.mint_playback_token(
        room_id=private_room.pk, link=credentials.mint_embed_link(room=private_room, lifetime_seconds=3600)[1]
    )
    play(client, _with_token(url, token), port=6001)
    assert play(client, url, port=6002).json()["allowed"] is False
    play(client, url, status="closing", new_url=url, port=6002)
    assert viewers.counts([private_room.pk]) == {private_room.pk: 1}


def test_an_llhls_player_stays_counted_after_the_closing_that_follows_its_playlist_request(client, room):
    # OME 0.21 sends an opening and at once a closing for every playlist request (the request's
    # connection closed), while the player goes on watching; OME's statistics count it out.
    url = LLHLS.format(id=room.public_id)
    for address, port in (("198.51.100.1", 7001), ("198.51.100.2", 7002)):
        play(client, url, protocol="LLHLS", address=address, port=port)
        play(client, url, protocol="LLHLS", status="closing", new_url=url, address=address, port=port)
    assert viewers.counts([room.pk]) == {room.pk: 2}
    # Its next playlist request (another connection) is the same viewer.
    play(client, url, protocol="LLHLS", address="198.51.100.1", port=7003)
    play(client, url, protocol="LLHLS", status="closing", new_url=url, address="198.51.100.1", port=7003)
    assert viewers.counts([room.pk]) == {room.pk: 2}


@pytest.fixture(params=["redis", "any other cache"])
def cache_backend(request, settings):
    """Counting works the same on Redis (production, one round trip) and on the portable path."""
    if request.param != "redis":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
        cache.clear()  # an empty cache, as every test starts with: the process's locmem outlives a test
    return request.param


def test_the_same_webrtc_sessions_repeated_opening_is_counted_once(client, room, cache_backend):
    url = WEBRTC.format(id=room.public_id)
    for _ in range(3):  # OME asked again about the same connection
        assert play(client, url, address="198.51.100.4", port=5201).json()["allowed"] is True
    play(client, url, address="198.51.100.4", port=5202)  # another connection: another viewer
    assert viewers.counts([room.pk]) == {room.pk: 2}
    play(client, url, status="closing", new_url=url, address="198.51.100.4", port=5201)
    assert viewers.counts([room.pk]) == {room.pk: 1}


def test_llhls_plays_are_counted_once_per_client_address(client, room, cache_backend):
    url = LLHLS.format(id=room.public_id)
    for port in (7101, 7102, 7103):  # one player's playlist requests, over several connections
        play(client, url, protocol="LLHLS", address="198.51.100.7", port=port)
    play(client, url, protocol="LLHLS", address="198.51.100.8", port=7104)
    assert viewers.counts([room.pk]) == {room.pk: 2}


def test_players_admitted_while_a_room_is_starting_are_not_counted(client, room):
    # OME refuses them right after (no stream yet) and never sends their closing.
    room.live_state = LiveState.STARTING
    room.save()
    url = WEBRTC.format(id=room.public_id)
    for port in (5101, 5102, 5103):
        assert play(client, url, port=port).json()["allowed"] is True
    assert viewers.counts([room.pk]) == {room.pk: 0}


def test_thumbnail_requests_are_not_viewers(client, room):
    play(client, f"http://ome.example.com:3333/app/{room.public_id}/thumb.jpg", protocol="thumbnail")
    assert viewers.counts([room.pk]) == {room.pk: 0}


def test_counts_of_many_rooms_come_in_one_cache_round_trip(client, room, other_room, monkeypatch):
    play(client, WEBRTC.format(id=room.public_id), port=8001)
    calls = []
    real_get_many = cache.get_many
    monkeypatch.setattr(cache, "get_many", lambda keys: calls.append(keys) or real_get_many(keys))
    monkeypatch.setattr(cache, "get", lambda *a, **k: pytest.fail("one round trip, not one per room"))
    assert viewers.counts([room.pk, other_room.pk, 999999]) == {room.pk: 1, other_room.pk: 0, 999999: 0}
    assert len(calls) == 1


def test_reset_forgets_the_counts_and_late_closings_do_not_go_negative(client, room):
    url = WEBRTC.format(id=room.public_id)
    play(client, url, port=9001)
    play(client, url, port=9002)
    viewers.reset([room.pk])
    assert viewers.counts([room.pk]) == {room.pk: 0}
    play(client, url, status="closing", new_url=url, port=9001)
    play(client, url, port=9003)
    assert viewers.counts([room.pk]) == {room.pk: 1}


# --- The hot path -------------------------------------------------------------------------


def test_a_public_play_costs_one_indexed_query(client, room, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert play(client, WEBRTC.format(id=room.public_id)).json()["allowed"] is True


def test_a_members_private_play_costs_two_indexed_queries(client, private_room, team, django_assert_num_queries):
    token = credentials.mint_playback_token(room_id=private_room.pk, user_id=team.streamer.pk)
    with django_assert_num_queries(2):
        assert play(client, _with_token(LLHLS.format(id=private_room.public_id), token), protocol="LLHLS").json()[
            "allowed"
        ]


def test_an_embed_link_play_costs_one_query(client, private_room, django_assert_num_queries):
    token = credentials.mint_playback_token(
        room_id=private_room.pk, link=credentials.mint_embed_link(room=private_room, lifetime_seconds=3600)[1]
    )
    with django_assert_num_queries(1):
        assert play(client, _with_token(WEBRTC.format(id=private_room.public_id), token)).json()["allowed"]


@pytest.mark.parametrize(("url", "protocol", "watching"), [(WEBRTC, "WebRTC", 0), (LLHLS, "LLHLS", 1)])
def test_a_players_closing_costs_no_query(client, room, url, protocol, watching, django_assert_num_queries):
    url = url.format(id=room.public_id)
    play(client, url, protocol=protocol, port=9100)
    with django_assert_num_queries(0):
        assert play(client, url, protocol=protocol, status="closing", new_url=url, port=9100).json() == {}
    assert viewers.counts([room.pk]) == {room.pk: watching}


def test_viewer_counting_works_on_a_cache_without_redis_too(client, room, settings):
    # `make run` without REDIS_URL: Django's in-memory cache.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()  # an empty cache, as every test starts with: the process's locmem outlives a test
    assert viewers._redis() is None
    webrtc, llhls = WEBRTC.format(id=room.public_id), LLHLS.format(id=room.public_id)
    play(client, webrtc, port=9201)
    play(client, webrtc, port=9202)
    play(client, llhls, protocol="LLHLS", address="198.51.100.5", port=9203)
    assert viewers.counts([room.pk]) == {room.pk: 3}
    play(client, webrtc, status="closing", new_url=webrtc, port=9201)
    play(client, webrtc, status="closing", new_url=webrtc, port=9201)
    play(client, llhls, protocol="LLHLS", status="closing", new_url=llhls, address="198.51.100.5", port=9203)
    assert viewers.counts([room.pk]) == {room.pk: 2}, "one WebRTC player left; the LL-HLS one watches on"
    viewers.reset([room.pk])
    play(client, webrtc, status="closing", new_url=webrtc, port=9202)
    assert viewers.counts([room.pk]) == {room.pk: 0}


def test_with_redis_an_opening_is_one_round_trip(client, room, monkeypatch):
    redis = viewers._redis()
    assert redis is not None, "the tests run on Redis"
    # The first opening Redis ever sees also loads the counting script.
    viewers.joined(room_id=room.pk, public_id=room.public_id, protocol="webrtc", address="192.0.2.1", port=1)
    calls = []
    real = type(redis).execute_command
    monkeypatch.setattr(type(redis), "execute_command", lambda self, *a, **k: calls.append(a[0]) or real(self, *a, **k))
    monkeypatch.setattr(redis_client.Pipeline, "execute", lambda self, *a, **k: pytest.fail("no pipeline needed"))
    viewers.joined(room_id=room.pk, public_id=room.public_id, protocol="webrtc", address="192.0.2.1", port=2)
    assert calls == ["EVALSHA"], "one command: Redis itself checks the session is new and counts it"
    assert viewers.counts([room.pk]) == {room.pk: 2}


# --- Round trips to Redis: one per play once the room's facts are cached --------------------


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands the webhook sends to Redis (warm: the room's facts and the scripts are loaded)."""
    redis = viewers._redis()
    assert redis is not None, "the tests run on Redis"
    sent = []
    real = type(redis).execute_command
    monkeypatch.setattr(type(redis), "execute_command", lambda self, *a, **k: sent.append(a[0]) or real(self, *a, **k))
    monkeypatch.setattr(redis_client.Pipeline, "execute", lambda self, *a, **k: pytest.fail("no pipeline needed"))
    return sent


def _member_token(room, user) -> str:
    return credentials.mint_playback_token(room_id=room.pk, user_id=user.pk)


def _link_token(room) -> str:
    return credentials.mint_playback_token(
        room_id=room.pk, link=credentials.mint_embed_link(room=room, lifetime_seconds=3600)[1]
    )


def test_a_public_play_is_one_redis_command_and_counted(client, room, request):
    url = WEBRTC.format(id=room.public_id)
    assert play(client, url, port=9301).json() == {"allowed": True}  # caches the room's facts
    sent = request.getfixturevalue("redis_commands")
    assert play(client, url, port=9302).json() == {"allowed": True}
    assert sent == ["EVALSHA"], "the room's facts and the count in one script"
    assert viewers.counts([room.pk]) == {room.pk: 2}


@pytest.mark.parametrize(("url", "protocol"), [(WEBRTC, "WebRTC"), (LLHLS, "LLHLS")])
def test_a_members_private_play_is_one_redis_command_and_counted(client, private_room, team, url, protocol, request):
    url = _with_token(url.format(id=private_room.public_id), _member_token(private_room, team.streamer))
    assert play(client, url, protocol=protocol, address="198.51.100.7", port=9311).json() == {"allowed": True}
    sent = request.getfixturevalue("redis_commands")
    assert play(client, url, protocol=protocol, address="198.51.100.8", port=9312).json() == {"allowed": True}
    assert sent == ["EVALSHA"], "the room's facts, the membership and the count in one script"
    assert viewers.counts([private_room.pk]) == {private_room.pk: 2}


def test_an_embed_link_play_is_one_redis_command_and_counted(client, private_room, request):
    url = _with_token(WEBRTC.format(id=private_room.public_id), _link_token(private_room))
    assert play(client, url, port=9321).json()["allowed"] is True
    sent = request.getfixturevalue("redis_commands")
    assert play(client, url, port=9322).json()["allowed"] is True
    assert sent == ["EVALSHA"]
    assert viewers.counts([private_room.pk]) == {private_room.pk: 2}


def test_refused_private_plays_are_never_counted_even_when_everything_is_cached(
    client, private_room, team, other_room, other_team
):
    member_url = _with_token(WEBRTC.format(id=private_room.public_id), _member_token(private_room, team.streamer))
    link_url = _with_token(WEBRTC.format(id=private_room.public_id), _link_token(private_room))
    assert play(client, member_url, port=9401).json()["allowed"] is True  # facts and membership cached
    assert play(client, link_url, port=9402).json()["allowed"] is True
    others = _with_token(WEBRTC.format(id=private_room.public_id), _member_token(other_room, other_team.owner))

    Membership.objects.filter(user=team.streamer).delete()
    credentials.withdraw_embed_links(room=private_room)
    for port in (9403, 9404):  # the first refusal caches the new facts, the second reads them
        assert play(client, member_url, port=port).json()["allowed"] is False
        assert play(client, link_url, port=port + 10).json()["allowed"] is False
        assert play(client, others, port=port + 20).json()["allowed"] is False
    assert viewers.counts([private_room.pk]) == {private_room.pk: 2}


def test_a_member_added_back_plays_again_at_once(client, private_room, team):
    url = _with_token(WEBRTC.format(id=private_room.public_id), _member_token(private_room, team.streamer))
    membership = Membership.objects.get(user=team.streamer, organization=private_room.organization)
    role = membership.role
    membership.delete()
    assert play(client, url, port=9501).json()["allowed"] is False  # "not a member" is cached
    Membership.objects.create(user=team.streamer, organization=private_room.organization, role=role)
    assert play(client, url, port=9502).json() == {"allowed": True}
    assert viewers.counts([private_room.pk]) == {private_room.pk: 1}


def test_a_private_room_that_is_not_live_admits_its_members_without_counting_them(client, private_room, team):
    private_room.live_state = LiveState.STARTING
    private_room.save()
    url = _with_token(WEBRTC.format(id=private_room.public_id), _member_token(private_room, team.streamer))
    for port in (9601, 9602):
        assert play(client, url, port=port).json() == {"allowed": True}
    assert viewers.counts([private_room.pk]) == {private_room.pk: 0}
