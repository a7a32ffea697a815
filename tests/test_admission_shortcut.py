"""OME's admission webhook is answered ahead of the session, authentication, tenancy and message
middleware (it is signed, and asked once per viewer), with its signature check intact."""

from .admission_helpers import play, post_admission

WEBRTC = "ws://ome.example.com:3333/app/{id}"


def test_the_webhook_is_answered_without_loading_a_session_or_a_user(client, room):
    client.cookies["sessionid"] = "a-session-that-would-otherwise-be-looked-up"
    response = play(client, WEBRTC.format(id=room.public_id))
    assert response.json() == {"allowed": True}
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert "Cookie" not in response.get("Vary", "") and not response.cookies


def test_a_forged_signature_is_still_refused_on_the_shortcut(client, room):
    response = post_admission(client, b'{"client": {}, "request": {}}', signature="forged")
    assert response.status_code == 403


def test_the_webhook_still_only_takes_post(client, db):
    assert client.get("/ome/admission").status_code == 405


def test_other_pages_still_go_through_the_whole_stack(client, db):
    response = client.get("/healthz")
    assert hasattr(response.wsgi_request, "user")
