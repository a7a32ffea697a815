"""The admission webhook answers from cached room facts, and every change reaches it at once.

Each test first makes the webhook answer once (so the room's facts are in the cache), changes
the room, its organization or a membership the way the portal does, and asks again right away:
the second answer must already be the new one, with no waiting for the cache to expire.
"""

from dataclasses import asdict

from django.contrib.admin.sites import site
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from organizations import services as organization_services
from organizations.models import Membership, Organization
from rooms import credentials, facts, services, viewers
from rooms.models import LiveState, Room, Visibility, generate_stream_key

from .admission_helpers import play, publish, rtmp_url

WEBRTC = "ws://ome.example.com:3333/app/{id}"


def _publish_and_close(client, room, key):
    """An OBS publish that is admitted, then its closing: the room's facts are now cached."""
    url = rtmp_url(key)
    assert publish(client, url, port=5000).json()["allowed"] is True
    rewritten = f"rtmp://ome.example.com:1935/app/{room.public_id}"
    publish(client, url, status="closing", new_url=rewritten, port=5000)


def _member_play(client, room, user):
    token = credentials.mint_playback_token(room_id=room.pk, user_id=user.pk)
    return play(client, WEBRTC.format(id=room.public_id) + f"?token={token}").json()


# --- Warm answers cost no query ------------------------------------------------------------


def test_a_public_play_of_a_known_room_costs_no_query(client, room, django_assert_num_queries):
    url = WEBRTC.format(id=room.public_id)
    play(client, url, port=1)
    with django_assert_num_queries(0):
        assert play(client, url, port=2).json()["allowed"] is True


def test_a_members_private_play_of_a_known_room_costs_no_query(client, room, team, django_assert_num_queries):
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    _member_play(client, room, team.streamer)
    with django_assert_num_queries(0):
        assert _member_play(client, room, team.streamer)["allowed"] is True


def test_a_repeated_unknown_stream_key_costs_no_query(client, db, django_assert_num_queries):
    publish(client, rtmp_url("sk-wrong"))
    with django_assert_num_queries(0):
        assert publish(client, rtmp_url("sk-wrong")).json() == {
            "allowed": False,
            "reason": "unknown stream key: it may have been replaced by a new one",
        }


# --- Every change is seen by the very next request ---------------------------------------------


def test_a_rotated_key_is_refused_at_once_and_the_new_one_admitted(client, room):
    old_key = room.stream_key
    _publish_and_close(client, room, old_key)
    new_key = services.rotate_stream_key(room=room)
    assert publish(client, rtmp_url(old_key)).json() == {
        "allowed": False,
        "reason": "unknown stream key: it may have been replaced by a new one",
    }
    assert publish(client, rtmp_url(new_key)).json()["allowed"] is True


def test_a_key_refused_as_unknown_works_as_soon_as_a_room_has_it(client, room):
    key = generate_stream_key()
    assert publish(client, rtmp_url(key)).json()["allowed"] is False
    room.set_stream_key(key)
    room.save()
    assert publish(client, rtmp_url(key)).json()["allowed"] is True


def test_a_room_made_private_stops_playing_without_a_token_at_once(client, room):
    url = WEBRTC.format(id=room.public_id)
    assert play(client, url).json()["allowed"] is True
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    assert play(client, url).json() == {
        "allowed": False,
        "reason": "this room is private: open it from the portal or an embed link",
    }


def _admin_action(model, action: str, queryset, admin_user):
    request = RequestFactory().post("/admin/")
    request.user, request.session = admin_user, {}
    request._messages = FallbackStorage(request)
    getattr(site._registry[model], action)(request, queryset)


def test_a_room_disabled_from_the_admin_cannot_go_live_at_once(client, room, admin_user):
    _publish_and_close(client, room, room.stream_key)
    _admin_action(Room, "disable", Room.objects.filter(pk=room.pk), admin_user)
    assert publish(client, rtmp_url(room.stream_key)).json() == {
        "allowed": False,
        "reason": "this room is disabled and cannot go live",
    }


def test_a_deleted_room_plays_no_more_at_once(client, room):
    url = WEBRTC.format(id=room.public_id)
    assert play(client, url).json()["allowed"] is True
    key = room.stream_key
    services.delete_room(room=room)
    assert play(client, url).json() == {"allowed": False, "reason": "no such room"}
    assert publish(client, rtmp_url(key)).json()["allowed"] is False


def test_an_organization_suspended_from_the_admin_cannot_go_live_at_once(client, room, team, admin_user):
    _publish_and_close(client, room, room.stream_key)
    _admin_action(Organization, "suspend", Organization.objects.filter(pk=team.organization.pk), admin_user)
    assert publish(client, rtmp_url(room.stream_key)).json() == {
        "allowed": False,
        "reason": "this organization is suspended and cannot go live",
    }


def test_a_removed_member_cannot_play_a_private_room_at_once(client, room, team):
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    assert _member_play(client, room, team.streamer)["allowed"] is True
    owner = Membership.objects.get(user=team.owner, organization=team.organization)
    streamer = Membership.objects.get(user=team.streamer, organization=team.organization)
    organization_services.remove_member(actor=owner, membership=streamer)
    assert _member_play(client, room, team.streamer) == {
        "allowed": False,
        "reason": "you are no longer a member of this room's organization",
    }


def test_a_deactivated_user_cannot_play_a_private_room_at_once(client, room, team):
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    assert _member_play(client, room, team.streamer)["allowed"] is True
    team.streamer.is_active = False
    team.streamer.save()
    assert _member_play(client, room, team.streamer)["allowed"] is False


def test_withdrawn_embed_links_stop_playing_at_once(client, room):
    services.update_room(room=room, visibility=Visibility.PRIVATE)
    _, link = credentials.mint_embed_link(room=room, lifetime_seconds=3600)
    token = credentials.mint_playback_token(room_id=room.pk, link=link)
    url = WEBRTC.format(id=room.public_id) + f"?token={token}"
    assert play(client, url).json()["allowed"] is True
    credentials.withdraw_embed_links(room=room)
    assert play(client, url).json() == {
        "allowed": False,
        "reason": "the embed link was withdrawn by the stream's owners",
    }


def test_viewers_are_counted_as_soon_as_the_room_is_live(client, room):
    url = WEBRTC.format(id=room.public_id)
    play(client, url, port=1)  # offline: admitted, not counted (OME would refuse it anyway)
    assert viewers.counts([room.pk]) == {room.pk: 0}
    room.live_state = LiveState.LIVE
    room.save()
    play(client, url, port=2)
    assert viewers.counts([room.pk]) == {room.pk: 1}


def test_facts_read_between_a_change_and_its_commit_are_dropped_at_the_commit(
    client, room, django_capture_on_commit_callbacks
):
    """Another request may read the old row after the save and before the commit, and cache it:
    the facts are dropped again when the change commits, so that copy does not outlive it."""
    public = asdict(facts.room(room.public_id))
    with django_capture_on_commit_callbacks(execute=True):
        services.update_room(room=room, visibility=Visibility.PRIVATE)
        facts._cache_set(f"room-facts:{room.public_id}", public)  # the other request's stale copy
    assert play(client, WEBRTC.format(id=room.public_id)).json()["allowed"] is False
