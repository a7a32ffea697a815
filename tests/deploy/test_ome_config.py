"""OME's Server.xml as the stack renders it, and whether it agrees with the portal's settings.

The template is rendered by the real docker/ome/entrypoint.sh (sh + awk, as in OME's image)
with the environment each OME service gets from docker/stack.yml, and compared with the
portal's settings as the web service gets them. A mismatch here is a deploy where OBS cannot
connect, webhooks are refused, pushes have no audio or recordings land where the portal does
not look.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from .stackfile import (
    OPERATOR_ENV,
    awk_implementations,
    load_stack,
    port_range,
    portal_settings,
    published_ports,
    render_ome,
    service_environment,
)


@pytest.fixture(scope="module")
def stack():
    return load_stack()


@pytest.fixture(scope="module")
def origin_xml(stack):
    result = render_ome(service_environment(stack, "ome"))
    assert result.returncode == 0, f"the origin's Server.xml did not render:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def origin(origin_xml):
    return ET.fromstring(origin_xml)


@pytest.fixture(scope="module")
def edge(stack):
    result = render_ome(service_environment(stack, "ome-edge"))
    assert result.returncode == 0, f"the edge's Server.xml did not render:\n{result.stderr}"
    return ET.fromstring(result.stdout)


@pytest.fixture(scope="module")
def portal(stack):
    return portal_settings(service_environment(stack, "web"))


def text(root: ET.Element, path: str) -> str:
    element = root.find(path)
    assert element is not None, f"Server.xml has no {path}"
    return (element.text or "").strip()


def application(root: ET.Element) -> ET.Element:
    apps = root.findall("VirtualHosts/VirtualHost/Applications/Application")
    assert len(apps) == 1
    return apps[0]


def url_port(url: str) -> int:
    port = urlsplit(url).port
    assert port, f"{url} has no port"
    return port


def test_the_rendered_configuration_is_well_formed_xml_with_every_variable_filled(origin_xml, edge):
    root = ET.fromstring(origin_xml)
    assert root.tag == "Server"
    # Our variables are all replaced; OME's own macros are left for OME.
    assert "${OME_" not in origin_xml
    assert "${OriginStreamName}" in origin_xml and "${PublicIP}" in origin_xml
    assert text(root, "Type") == "origin" and text(edge, "Type") == "edge"


def test_secrets_reach_ome_exactly_even_with_xml_special_characters(origin, portal):
    # OPERATOR_ENV's secrets contain & < > " ': an unescaped one would break or change the XML.
    assert text(origin, "Managers/API/AccessToken") == portal["OME_API_TOKEN"] == OPERATOR_ENV["API_ACCESS_TOKEN"]
    hooks = "VirtualHosts/VirtualHost/AdmissionWebhooks"
    assert text(origin, f"{hooks}/SecretKey") == portal["OME_WEBHOOK_SECRET"] == OPERATOR_ENV["OME_WEBHOOK_SECRET"]


def test_a_signature_made_with_omes_secret_is_one_the_portal_accepts(origin, portal):
    # What OME does with <SecretKey>: HMAC-SHA1 of the raw body, base64url without padding.
    body = b'{"request":{"status":"closing"}}'
    secret = text(origin, "VirtualHosts/VirtualHost/AdmissionWebhooks/SecretKey").encode()
    signature = base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha1).digest()).rstrip(b"=")
    expected = base64.urlsafe_b64encode(
        hmac.new(portal["OME_WEBHOOK_SECRET"].encode(), body, hashlib.sha1).digest()
    ).rstrip(b"=")
    assert signature == expected


def test_admission_webhooks_call_the_portals_admission_view_on_the_internal_network(origin, edge, stack, portal):
    hooks = "VirtualHosts/VirtualHost/AdmissionWebhooks"
    for root in (origin, edge):
        url = urlsplit(text(root, f"{hooks}/ControlServerUrl"))
        assert url.scheme == "http" and url.hostname == "web", "OME must call the web service directly"
        assert url.port == 8000, "gunicorn listens on 8000 (PORT in docker/Dockerfile)"
        # The portal's URL for the view when it exists (reverse), else the agreed path.
        assert url.path == (portal["admission_path"] or "/ome/admission")
        assert url.path.startswith("/ome/"), "settings exempt ^ome/ from the HTTPS redirect"
        assert text(root, f"{hooks}/Enables/Providers").split(",") == ["rtmp", "webrtc", "srt"]
        assert text(root, f"{hooks}/Enables/Publishers").split(",") == ["webrtc", "llhls"]
    assert "web" in portal["ALLOWED_HOSTS"]
    networks = stack["services"]
    assert set(networks["ome"]["networks"]) & set(networks["web"]["networks"])
    assert set(networks["ome-edge"]["networks"]) & set(networks["web"]["networks"])


def test_the_rest_api_is_where_the_portal_calls_it_and_nowhere_else(origin, stack, portal):
    api = urlsplit(portal["OME_API_URL"])
    assert api.hostname == "ome" and api.port == int(text(origin, "Bind/Managers/API/Port"))
    assert origin.find("Bind/Managers/API/TLSPort") is None
    published = {p["published"] for p in published_ports(stack["services"]["ome"])}
    assert api.port not in published, "OME's REST API must not be published"


def test_application_vhost_and_rtmp_variant_match_the_portal(origin, portal):
    assert text(origin, "VirtualHosts/VirtualHost/Name") == portal["OME_VHOST"]
    app = application(origin)
    assert text(app, "Name") == portal["OME_APP"]
    names = [text(profile, "OutputStreamName") for profile in app.findall("OutputProfiles/OutputProfile")]
    assert names == ["${OriginStreamName}", "${OriginStreamName}" + portal["OME_RTMP_VARIANT_SUFFIX"]]


def test_the_rtmp_variant_carries_the_video_as_is_and_aac_audio(origin):
    profiles = application(origin).findall("OutputProfiles/OutputProfile")
    rtmp = profiles[1]
    assert text(rtmp, "Encodes/Video/Bypass") == "true"
    audio = rtmp.findall("Encodes/Audio")
    assert [text(track, "Codec") for track in audio] == ["aac"]
    # The original keeps Opus for WebRTC players and AAC for LL-HLS players.
    assert [text(track, "Codec") for track in profiles[0].findall("Encodes/Audio")] == ["aac", "opus"]


def test_ingest_ports_match_the_urls_the_portal_shows_and_the_published_ports(origin, stack, portal):
    ome = {(p["target"], p["protocol"]): p["published"] for p in published_ports(stack["services"]["ome"])}
    rtmp = int(text(origin, "Bind/Providers/RTMP/Port"))
    srt = int(text(origin, "Bind/Providers/SRT/Port"))
    assert url_port(portal["OME_RTMP_URL"]) == ome[(rtmp, "tcp")] == rtmp == 1935
    assert url_port(portal["OME_SRT_URL"]) == ome[(srt, "udp")] == srt == 9999
    for name in ("OME_RTMP_URL", "OME_SRT_URL", "OME_WEBRTC_URL", "OME_LLHLS_URL"):
        assert urlsplit(portal[name]).hostname == OPERATOR_ENV["DOMAIN"], f"{name} must use DOMAIN"
    assert {p.tag for p in application(origin).find("Providers")} == {"WebRTC", "RTMP", "SRT"}


def test_browsers_reach_signalling_and_llhls_through_traefik(origin, stack, portal):
    signalling = int(text(origin, "Bind/Publishers/WebRTC/Signalling/Port"))
    assert (
        signalling
        == int(text(origin, "Bind/Publishers/LLHLS/Port"))
        == int(text(origin, "Bind/Providers/WebRTC/Signalling/Port"))
    )
    ome_labels = dict(item.split("=", 1) for item in stack["services"]["ome"]["deploy"]["labels"])
    assert int(ome_labels["traefik.http.services.ome.loadbalancer.server.port"]) == signalling
    assert portal["OME_WEBRTC_URL"] == f"wss://{OPERATOR_ENV['DOMAIN']}:3334"
    assert portal["OME_LLHLS_URL"] == f"https://{OPERATOR_ENV['DOMAIN']}:3334"
    # The portal's own look at OME's LL-HLS stays on the internal network, at OME's plain port.
    assert portal["OME_LLHLS_INTERNAL_URL"] == f"http://ome:{signalling}"
    assert "--entrypoints.ome.address=:3334" in stack["services"]["traefik"]["command"]
    # TLS ends at Traefik: OME itself has no certificate and no TLS port.
    assert origin.find("Bind/Publishers/WebRTC/Signalling/TLSPort") is None


def ice_sections(root: ET.Element) -> list[ET.Element]:
    """The <IceCandidates> of WebRTC ingest (origin only) and WebRTC playback."""
    return [
        section
        for path in ("Bind/Providers/WebRTC/IceCandidates", "Bind/Publishers/WebRTC/IceCandidates")
        if (section := root.find(path)) is not None
    ]


def candidates_by_transport(section: ET.Element) -> dict[str, tuple[str, str]]:
    """{"udp": (host, ports), "tcp": (host, port)} from IceCandidate elements like HOST:PORTS/udp."""
    found = {}
    for candidate in section.findall("IceCandidate"):
        address, _, transport = text(candidate, ".").rpartition("/")
        assert transport not in found, f"two {transport} candidates"
        host, _, ports = address.rpartition(":")
        found[transport] = (host, ports)
    return found


@pytest.mark.parametrize("service", ["ome", "ome-edge"])
def test_ice_candidates_and_the_turn_relay_are_the_published_ports(stack, service):
    environment = service_environment(stack, service)
    root = ET.fromstring(render_ome(environment).stdout)
    udp = {p["published"] for p in published_ports(stack["services"][service]) if p["protocol"] == "udp"}
    tcp = {p["published"] for p in published_ports(stack["services"][service]) if p["protocol"] == "tcp"}
    sections = ice_sections(root)
    assert len(sections) == (2 if service == "ome" else 1)
    for section in sections:
        candidates = candidates_by_transport(section)
        assert set(candidates) == {"udp", "tcp"}, "UDP, and OME 0.21's direct TCP ICE (RFC 6544)"
        for host, _ports in candidates.values():
            assert host == "${PublicIP}", "without OME_HOST_IP, OME asks STUN for its public address"
        assert set(port_range(candidates["udp"][1])) <= udp
        assert int(candidates["tcp"][1]) in tcp, "browsers behind UDP-blocking networks connect over TCP"
        relay = int(text(section, "TcpRelay").rpartition(":")[2])
        assert relay in tcp
        assert relay != int(candidates["tcp"][1])
    assert text(root, "StunServer") == "stun.ovenmediaengine.com:13478"


def test_a_fixed_public_address_replaces_stun(stack):
    environment = {**service_environment(stack, "ome"), "OME_HOST_IP": "203.0.113.10"}
    root = ET.fromstring(render_ome(environment).stdout)
    for section in ice_sections(root):
        assert candidates_by_transport(section) == {
            "udp": ("203.0.113.10", "10000-10009"),
            "tcp": ("203.0.113.10", "10000"),
        }
        assert text(section, "TcpRelay") == "203.0.113.10:3478"


@pytest.mark.parametrize("service", ["ome", "ome-edge"])
def test_without_transport_parameter_browsers_get_udp_then_direct_tcp_and_turn_only_when_asked(stack, service):
    # OME 0.21: <DefaultTransport> applies when the URL has no ?transport= (the player's first try);
    # TURN (<TcpRelay>) is offered for ?transport=relay and all, not forced on everyone.
    root = ET.fromstring(render_ome(service_environment(stack, service)).stdout)
    for section in ice_sections(root):
        assert text(section, "DefaultTransport") == "udptcp"
        assert text(section, "TcpRelayForce") == "false"


def test_a_browsers_stream_starts_without_waiting_for_an_rtcp_sender_report(origin):
    # OME 0.21's default, written out: with true, a WebRTC ingest waits up to 5 s for the first SR.
    assert text(application(origin), "Providers/WebRTC/RtcpBasedTimestamp") == "false"


# Elements OME 0.21 logs as deprecated (0.21's own config examples and its log for the 0.19 template).
DEPRECATED = {
    "TcpForce": "<TcpRelayForce>",
    "HardwareAcceleration": "<HWAccels>",
}


@pytest.mark.parametrize(
    "environment",
    [{}, {"OME_P2P": "true"}, {"OME_HOST_IP": "203.0.113.10"}],
    ids=["defaults", "p2p", "fixed address"],
)
@pytest.mark.parametrize("service", ["ome", "ome-edge"])
def test_ome_0_21_finds_no_deprecated_element_in_the_rendered_configuration(stack, service, environment):
    root = ET.fromstring(render_ome({**service_environment(stack, service), **environment}).stdout)
    tags = {element.tag for element in root.iter()}
    for old, new in DEPRECATED.items():
        assert old not in tags, f"<{old}> is deprecated in OME 0.21: use {new}"
    for vhost in root.findall("VirtualHosts/VirtualHost"):
        assert vhost.find("CrossDomains") is None, "CORS inside <VirtualHost> is deprecated: <Server><Defaults>"
    assert [text(url, ".") for url in root.findall("Defaults/CrossDomains/Url")] == ["*"]
    hwaccels = application(root).find("OutputProfiles/HWAccels")
    assert text(hwaccels, "Decoder/Enable") == text(hwaccels, "Encoder/Enable") == "false"


def test_recordings_go_into_the_volume_the_portal_reads(origin, stack, portal):
    publishers = application(origin).find("Publishers")
    file_path = text(publishers, "FILE/FilePath")
    info_path = text(publishers, "FILE/InfoPath")
    recordings = portal["OME_RECORDINGS_DIR"]
    assert file_path.startswith(recordings + "/") and file_path.endswith(".ts")
    assert info_path.startswith(recordings + "/") and info_path.endswith(".xml")
    services = stack["services"]
    ome_volume = next(v.split(":")[0] for v in services["ome"]["volumes"] if v.split(":")[1] == recordings)
    for name in ("web", "worker"):
        mounts = dict(v.split(":")[:2] for v in services[name]["volumes"])
        assert mounts.get(ome_volume) == portal["RECORDINGS_DIR"], f"{name} does not see OME's recordings"
    assert publishers.find("Push") is not None, "restreams need the Push publisher"
    assert publishers.find("OVT") is not None, "edges pull from the origin's OVT publisher"
    assert int(text(origin, "Bind/Publishers/OVT/Port")) == 9000


def test_an_edge_pulls_every_stream_of_the_application_from_the_origin(origin, edge):
    origin_ovt = int(text(origin, "Bind/Publishers/OVT/Port"))
    app_name = text(application(origin), "Name")
    source = edge.find("VirtualHosts/VirtualHost/Origins/Origin")
    assert text(source, "Location") == f"/{app_name}/"
    assert text(source, "Pass/Scheme") == "ovt"
    assert text(source, "Pass/Urls/Url") == f"ome:{origin_ovt}/{app_name}/"
    app = application(edge)
    assert [p.tag for p in app.find("Providers")] == ["OVT"]
    assert {p.tag for p in app.find("Publishers")} >= {"WebRTC", "LLHLS"}
    assert app.find("Publishers/FILE") is None and app.find("Publishers/Push") is None
    assert edge.find("Bind/Providers/RTMP") is None and edge.find("Bind/Publishers/OVT") is None
    assert len(app.findall("OutputProfiles/OutputProfile")) == 1
    assert text(edge, "Managers/API/AccessToken") == text(origin, "Managers/API/AccessToken")


def test_p2p_delivery_is_off_unless_switched_on(stack, origin):
    assert origin.find("Modules/P2P") is None
    environment = {**service_environment(stack, "ome-edge"), "OME_P2P": "true"}
    root = ET.fromstring(render_ome(environment).stdout)
    assert text(root, "Modules/P2P/Enable") == "true"
    assert text(root, "Modules/P2P/MaxClientPeersPerHostPeer") == "2"


def test_ome_does_not_start_with_a_missing_secret(stack):
    environment = {**service_environment(stack, "ome"), "OME_WEBHOOK_SECRET": ""}
    result = render_ome(environment)
    assert result.returncode != 0
    assert "OME_WEBHOOK_SECRET is empty or not set" in result.stderr


def test_an_unknown_role_is_refused(stack):
    result = render_ome({**service_environment(stack, "ome"), "OME_ROLE": "relay"})
    assert result.returncode != 0 and "OME_ROLE must be origin or edge" in result.stderr


def test_the_original_stacks_token_variable_works_too(stack):
    environment = service_environment(stack, "ome")
    environment["API_ACCESS_TOKEN"] = environment.pop("OME_API_TOKEN")
    root = ET.fromstring(render_ome(environment).stdout)
    assert text(root, "Managers/API/AccessToken") == OPERATOR_ENV["API_ACCESS_TOKEN"]


def test_every_awk_renders_the_same_configuration(stack, origin_xml, tmp_path):
    awks = awk_implementations()
    if not awks:
        pytest.skip("no mawk/gawk/busybox here to compare")
    for awk in awks:
        result = render_ome(service_environment(stack, "ome"), awk=awk, tmp_path=tmp_path)
        assert result.returncode == 0, f"{awk}: {result.stderr}"
        assert result.stdout == origin_xml, f"{awk} renders Server.xml differently"


def test_the_origin_asks_the_portal_which_outputs_each_stream_gets_and_falls_back_to_its_own(origin, edge, portal):
    hook = application(origin).find("TranscodeWebhook")
    assert hook is not None and text(hook, "Enable") == "true"
    url = urlsplit(text(hook, "ControlServerUrl"))
    assert (url.scheme, url.hostname, url.port) == ("http", "web", 8000), "the web service, internal network"
    assert url.path == (portal["transcode_path"] or "/ome/transcode")
    assert text(hook, "SecretKey") == portal["OME_WEBHOOK_SECRET"], "signed like the admission webhook"
    assert int(text(hook, "Timeout")) <= 3000
    # The portal down or failing: streams still start, delivered as published (the local profiles).
    assert text(hook, "UseLocalProfilesOnConnectionFailure") == "true"
    assert text(hook, "UseLocalProfilesOnErrorResponse") == "true"
    assert application(edge).find("TranscodeWebhook") is None, "edges receive the origin's outputs over OVT"


def test_thumbnails_are_made_on_the_origin_and_reachable_on_the_internal_network_only(origin, edge, stack, portal):
    port = int(text(origin, "Bind/Publishers/Thumbnail/Port"))
    assert urlsplit(portal["OME_THUMBNAIL_URL"]) == urlsplit(f"http://ome:{port}"), "where the portal fetches them"
    assert application(origin).find("Publishers/Thumbnail") is not None
    published = {p["target"] for p in published_ports(stack["services"]["ome"])}
    assert port not in published, "OME serves any stream's thumbnail to anyone who reaches the port"
    for service in ("ome", "ome-edge"):
        labels = dict(item.split("=", 1) for item in stack["services"][service]["deploy"]["labels"])
        routed = {int(value) for key, value in labels.items() if key.endswith("loadbalancer.server.port")}
        assert port not in routed, f"Traefik must not route the thumbnail port of {service}"
    assert port != int(text(origin, "Bind/Publishers/LLHLS/Port")), "the LL-HLS port is routed to the outside"
    # Without the portal the local profile still makes thumbnails; edges make none.
    images = application(origin).findall("OutputProfiles/OutputProfile/Encodes/Image")
    assert [text(image, "Codec") for image in images] == ["jpeg"]
    assert edge.find("Bind/Publishers/Thumbnail") is None
    assert application(edge).findall("OutputProfiles/OutputProfile/Encodes/Image") == []
