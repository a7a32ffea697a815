"""The original stack's API, kept: OvenMediaEngine's REST API v1 paths and shapes, on the portal.

Scripts written for the original stack called OME directly with `Authorization: Basic
base64(API_ACCESS_TOKEN)`. They keep working unchanged, but every call now goes through the
portal's services and Celery tasks (a push started here shows on the room page and in admin)
and is scoped: an organization API token sees only its organization's rooms; the operator's
token (settings.OME_API_TOKEN, the original API_ACCESS_TOKEN) sees every organization.

Answers follow a real OME 0.21 (tests/ome_golden/rest-api.json): the envelope
`{"message", "response"?, "statusCode"}`, errors `[HTTP] <text> (<status>)`, push and record
objects with OME's field names and lowercase states. Ids map like this:
- the `id` a client gives is stored as the push's/recording's `external_id` (unique among the
  organization's running ones); pushes and recordings started elsewhere show their OME id;
- stream names `ROOM`, `ROOM_youtube`, `ROOM_facebook`, any `ROOM_suffix` name the room ROOM;
  the suffix names the platform, which picks the OME output stream actually pushed (the AAC
  variant, see broadcasts.models.push_stream_name).
Stream keys are masked in answers, as everywhere in the portal.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from broadcasts import services as broadcast_services
from broadcasts.models import ACTIVE_PUSH_STATES, PUSH_STATE_AS_OME, Platform, Push, PushState
from core import jsonbody
from core.errors import PortalError
from organizations.models import Organization
from recordings import services as recording_services
from recordings.models import ACTIVE_RECORDING_STATES, RECORD_STATE_AS_OME, Recording, RecordingState
from rooms.models import LiveState, Room

from . import services, throttling
from .models import ApiToken

# OME lists a push or record until it is stopped; a failed one stays listed (state "error") this long.
FAILED_LISTED_FOR = timedelta(hours=24)
MAX_ID_LENGTH = 100
MAX_URL_LENGTH = 500
OME_PROTOCOLS = ("rtmp", "srt", "mpegts")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OmeApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _answer(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    # OME writes its JSON with jsoncpp: keys sorted, indented.
    response = JsonResponse(body, status=status, json_dumps_params={"sort_keys": True, "indent": 4})
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def ok(response=None, *, with_response: bool = True) -> JsonResponse:
    body: dict = {"message": "OK", "statusCode": 200}
    if with_response:
        body["response"] = response
    return _answer(body)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    return _answer({"message": f"[HTTP] {message} ({status})", "statusCode": status}, status, headers)


# --- Who is calling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: one organization, or every one (the operator's token)."""

    organization: Organization | None
    api_token: ApiToken | None = None

    def _scoped(self, queryset):
        return queryset if self.organization is None else queryset.for_organization(self.organization)

    def rooms(self):
        return self._scoped(Room.objects.select_related("organization"))

    def pushes(self):
        return self._scoped(Push.objects.select_related("room__organization", "destination"))

    def recordings(self):
        return self._scoped(Recording.objects.select_related("room__organization"))


_CHALLENGE = {"WWW-Authenticate": 'Basic realm="OvenMediaEngine"'}


def _scope_of(request) -> Scope:
    header = request.headers.get("Authorization", "")
    if not header:
        raise OmeApiError(401, "Authorization header is required to call API", _CHALLENGE)
    scheme, _, value = header.partition(" ")
    try:
        token = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, ValueError):
        token = ""
    if scheme.lower() != "basic" or not token:
        raise OmeApiError(401, "Invalid credential", _CHALLENGE)
    operator_token = settings.OME_API_TOKEN or ""
    if operator_token and hmac.compare_digest(token.encode(), operator_token.encode()):
        return Scope(organization=None)
    api_token = services.authenticate(token)
    if api_token is None:
        raise OmeApiError(401, "Invalid credential", _CHALLENGE)
    return Scope(organization=api_token.organization, api_token=api_token)


def ome_api(view):
    """Auth, per-token throttling, vhost/app names and OME-style errors around a compat view."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            scope = _scope_of(request)
            wait = throttling.hit(throttling.key_for(scope.api_token))
            if wait is not None:
                seconds = math.ceil(wait)
                raise OmeApiError(
                    429, f"Too many requests: try again in {seconds} seconds", {"Retry-After": str(seconds)}
                )
            return view(request, scope, *args, **kwargs)
        except OmeApiError as failure:
            return error(failure.status, failure.message, failure.headers)

    return wrapper


def _check_app(vhost: str, app: str) -> str:
    if vhost != settings.OME_VHOST:
        raise OmeApiError(404, f"Could not find the virtual host: [{vhost}]")
    if app != settings.OME_APP:
        raise OmeApiError(404, f"Could not find the application: [{vhost}/{app}]")
    return f"{vhost}/{app}"


def _body(request, where: str) -> dict:
    if not request.body.strip():
        return {}
    try:
        body = jsonbody.loads(request.body)
    except ValueError:
        raise OmeApiError(400, f"Could not parse json context: [{where}]") from None
    return body if isinstance(body, dict) else {}


def _text(body: dict, *path: str) -> str:
    value = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _required(**values: str) -> None:
    missing = [name.replace("__", ".") for name, value in values.items() if not value]
    if missing:
        raise OmeApiError(400, "There is no required parameter [" + "".join(f" {name}" for name in missing) + "]")


def _check_id(value: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise OmeApiError(400, f"The id is too long: at most {MAX_ID_LENGTH} characters")


def _refused(failure: PortalError | ValidationError) -> OmeApiError:
    if isinstance(failure, PortalError):
        return OmeApiError(failure.status_code, failure.message)
    return OmeApiError(400, " ".join(failure.messages))


# --- Shapes ---------------------------------------------------------------------------------------


def ome_time(value: datetime | None) -> str:
    moment = (value or _EPOCH).astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+00:00"


def _stream(name: str) -> dict:
    return {"name": name, "trackIds": [], "variantNames": []}


def push_json(push: Push) -> dict:
    return {
        "app": settings.OME_APP,
        "createdTime": ome_time(push.created_at),
        "finishTime": ome_time(push.stopped_at),
        "id": push.external_id or push.ome_id,
        "isConfig": False,
        "protocol": push.protocol,
        "sentBytes": push.sent_bytes,
        "sentTime": push.sent_time_ms,
        "sequence": 0,
        "startTime": ome_time(push.started_at),
        "state": PUSH_STATE_AS_OME.get(push.state, push.state),
        "stream": _stream(push.stream_name),
        "streamKey": push.masked_stream_key,
        "totalsentBytes": push.sent_bytes,
        "totalsentTime": push.sent_time_ms,
        "url": push.url,
        "vhost": settings.OME_VHOST,
    }


def _output_path(recording: Recording) -> str:
    # Until OME reports the final name, the path holds OME's ${StartTime}/${EndTime} placeholders;
    # OME shows them filled in (the end time as the epoch while recording).
    start = recording.started_at or recording.created_at
    return recording.file_path.replace("${StartTime:YYYYMMDDhhmmss}", f"{start:%Y%m%d%H%M%S}").replace(
        "${EndTime:YYYYMMDDhhmmss}", f"{recording.finished_at or _EPOCH:%Y%m%d%H%M%S}"
    )


def record_json(recording: Recording, *, counters: bool = True) -> dict:
    body = {
        "app": settings.OME_APP,
        "createdTime": ome_time(recording.created_at),
        "id": recording.external_id or recording.ome_id,
        "isConfig": False,
        "segmentationRule": "discontinuity",
        "startTime": ome_time(recording.started_at),
        "state": RECORD_STATE_AS_OME.get(recording.state, recording.state),
        "stream": _stream(recording.room.public_id),
        "vhost": settings.OME_VHOST,
    }
    body["outputFilePath"] = _output_path(recording)
    body["outputInfoPath"] = recording.info_path
    if counters:
        body.update(
            recordBytes=recording.size_bytes,
            recordTime=recording.duration_ms,
            totalRecordBytes=recording.size_bytes,
            totalRecordTime=recording.duration_ms,
        )
    return body


# --- Reads ------------------------------------------------------------------------------------------


def _listed(queryset, active_states, error_state):
    recent = timezone.now() - FAILED_LISTED_FOR
    return queryset.filter(Q(state__in=active_states) | Q(state=error_state, updated_at__gte=recent))


def listed_pushes(scope: Scope, push_id: str = ""):
    pushes = _listed(scope.pushes(), ACTIVE_PUSH_STATES, PushState.ERROR)
    if push_id:
        pushes = pushes.filter(Q(external_id=push_id) | Q(ome_id=push_id))
    return pushes


def listed_recordings(scope: Scope, record_id: str = ""):
    recordings = _listed(scope.recordings(), ACTIVE_RECORDING_STATES, RecordingState.ERROR)
    if record_id:
        recordings = recordings.filter(Q(external_id=record_id) | Q(ome_id=record_id))
    return recordings


def resolve_stream(scope: Scope, name: str) -> tuple[Room, str]:
    """The room a stream name means, and the platform its suffix names (ROOM_youtube → youtube)."""
    parts = name.split("_")
    candidates = {name: ""}
    for cut in range(len(parts) - 1, 0, -1):
        candidates.setdefault("_".join(parts[:cut]), "_".join(parts[cut:]))
    rooms = {room.public_id: room for room in scope.rooms().filter(public_id__in=list(candidates))}
    if not rooms:
        vhost, app = settings.OME_VHOST, settings.OME_APP
        raise OmeApiError(404, f"Could not find the stream: [{vhost}/#{vhost}#{app}/{name}]")
    room_id = max(rooms, key=len)  # the longest room id that matches: `a_b_youtube` is room a_b if it exists
    suffix = candidates[room_id]
    platform = suffix if suffix in Platform.values else Platform.CUSTOM
    return rooms[room_id], platform


# --- Views ------------------------------------------------------------------------------------------


@ome_api
def streams(request, scope: Scope, vhost: str, app: str):
    """`GET …/streams`: the live rooms the caller can see, by stream name."""
    _check_app(vhost, app)
    if request.method != "GET":
        raise OmeApiError(404, f"Could not find the resource: [{request.path}]")
    names = scope.rooms().filter(live_state=LiveState.LIVE).order_by("public_id").values_list("public_id", flat=True)
    return ok(list(names))


@ome_api
def app_action(request, scope: Scope, vhost: str, app: str):
    """`…/apps/app:ACTION` (startPush, stopPush, pushes, startRecord, stopRecord, records)."""
    app_name, _, action = app.partition(":")
    where = _check_app(vhost, app_name)
    handler = _ACTIONS.get((action, request.method))
    if handler is None:
        raise OmeApiError(
            404,
            f"Could not find the action: [{where}:{action}]"
            if action
            else f"Could not find the resource: [{request.path}]",
        )
    body = _body(request, where) if request.method == "POST" else {}
    return handler(scope, body)


def _pushes(scope: Scope, body: dict) -> JsonResponse:
    pushes = listed_pushes(scope, _text(body, "id"))
    return ok(sorted((push_json(push) for push in pushes), key=lambda item: item["id"]))


def _start_push(scope: Scope, body: dict) -> JsonResponse:
    protocol = _text(body, "protocol").lower()
    if protocol not in OME_PROTOCOLS:
        raise OmeApiError(400, f"Could not find protocol '{protocol}': [{settings.OME_VHOST}/{settings.OME_APP}]")
    push_id, stream_name, url = _text(body, "id"), _text(body, "stream", "name"), _text(body, "url")
    _required(id=push_id, stream__name=stream_name, url=url)
    _check_id(push_id)
    if len(url) > MAX_URL_LENGTH:
        raise OmeApiError(400, f"The url is too long: at most {MAX_URL_LENGTH} characters")
    scheme = url.split("://", 1)[0].lower()
    if (protocol == "rtmp" and scheme not in ("rtmp", "rtmps")) or (protocol == "srt" and scheme != "srt"):
        raise OmeApiError(400, "Unsupported protocol")
    room, platform = resolve_stream(scope, stream_name)
    if listed_pushes(scope, push_id).filter(state__in=ACTIVE_PUSH_STATES).exists():
        raise OmeApiError(400, "Duplicate ID")
    try:
        push = broadcast_services.start_custom_push(
            room=room,
            url=url,
            stream_key=_text(body, "streamKey"),
            protocol=protocol,
            platform=platform,
            external_id=push_id,
        )
    except (PortalError, ValidationError) as failure:
        raise _refused(failure) from None
    push.refresh_from_db()
    return ok(push_json(push))


def _stop_push(scope: Scope, body: dict) -> JsonResponse:
    push_id = _text(body, "id")
    _required(id=push_id)
    pushes = list(listed_pushes(scope, push_id))
    if not pushes:
        raise OmeApiError(404, f"Could not find id '{push_id}': [{settings.OME_VHOST}/{settings.OME_APP}]")
    for push in pushes:
        broadcast_services.stop_push(push=push)
    return ok(with_response=False)


def _records(scope: Scope, body: dict) -> JsonResponse:
    recordings = listed_recordings(scope, _text(body, "id"))
    return ok(sorted((record_json(recording) for recording in recordings), key=lambda item: item["id"]))


def _start_record(scope: Scope, body: dict) -> JsonResponse:
    record_id, stream_name = _text(body, "id"), _text(body, "stream", "name")
    _required(id=record_id, stream__name=stream_name)
    _check_id(record_id)
    room, _platform = resolve_stream(scope, stream_name)
    if listed_recordings(scope, record_id).filter(state__in=ACTIVE_RECORDING_STATES).exists():
        raise OmeApiError(400, "Duplicate ID already exists")
    try:
        recording = recording_services.start_recording(room=room, external_id=record_id)
    except (PortalError, ValidationError) as failure:
        raise _refused(failure) from None
    recording.refresh_from_db()
    return ok(record_json(recording, counters=False))


def _stop_record(scope: Scope, body: dict) -> JsonResponse:
    record_id = _text(body, "id")
    _required(id=record_id)
    recordings = list(listed_recordings(scope, record_id))
    if not recordings:
        raise OmeApiError(404, f"There is no record information related to the ID [{record_id}]")
    stopped = [recording_services.stop_recording(recording=recording) for recording in recordings]
    # OME (0.21) answers with the record as it was when asked to stop: stopping, with its output
    # paths, the end time still the epoch (the final name is only in the info XML).
    return ok(record_json(stopped[0]))


_ACTIONS = {
    ("pushes", "GET"): _pushes,
    ("pushes", "POST"): _pushes,
    ("startPush", "POST"): _start_push,
    ("stopPush", "POST"): _stop_push,
    ("records", "GET"): _records,
    ("records", "POST"): _records,
    ("startRecord", "POST"): _start_record,
    ("stopRecord", "POST"): _stop_record,
}


@ome_api
def not_found(request, scope: Scope, rest: str = ""):
    raise OmeApiError(404, f"Could not find the resource: [{request.path}]")
