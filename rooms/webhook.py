"""POST /ome/admission and POST /ome/transcode: the HTTP side of OME's AdmissionWebhooks
(decisions in rooms.admission) and of its TranscodeWebhook (answers from rooms.quality).

Answers 403 to a missing, forged or stale `X-OME-Signature`, 400 with a reason to a body that
is not a well-formed admission request, and OME's JSON otherwise. Failed signatures are
counted per client address; past the limit they get 429, so a misconfigured secret or a probe
shows up as a clear rate-limit rather than a log flood. A correctly signed request is never
rate-limited, so nobody can lock OME out by failing on its behalf.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from prometheus_client import Counter, Histogram

from core import jsonbody, ratelimit
from core.outage import cache_optional

from . import admission, facts, quality
from .models import Quality, Room

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

ADMISSION_DECISIONS = Counter(
    "portal_admission_decisions_total",
    "Admission webhook requests by direction (incoming = publish, outgoing = play) and outcome.",
    ["direction", "outcome"],
)
ADMISSION_SECONDS = Histogram(
    "portal_admission_seconds",
    "Time the admission webhook took to answer OME.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
)


def _failures_allowed() -> tuple[int, int]:
    return (
        settings.OME_WEBHOOK_FAILURES_PER_WINDOW,
        settings.OME_WEBHOOK_FAILURE_WINDOW_SECONDS,
    )


def _refused(reason: str, status: int) -> JsonResponse:
    return JsonResponse({"allowed": False, "reason": reason}, status=status)


@cache_optional(default=True, what="webhook signature failure count")  # Redis down: 403, never 429
def _failure_allowed(address: str, *, limit: int, window: int) -> bool:
    return ratelimit.allow("ome-admission-signature", address, limit=limit, window_seconds=window)


def _signature_failed(request, reason: str, *, webhook: str = "admission") -> JsonResponse:
    # OME talks to the portal directly over the internal network: its own address is the one
    # to count, not X-Forwarded-For, which anybody in front of a proxy can write.
    address = request.META.get("REMOTE_ADDR", "")
    limit, window = _failures_allowed()
    if not _failure_allowed(address, limit=limit, window=window):
        response = _refused("too many requests with a bad signature: try again later", 429)
        response["Retry-After"] = str(window)
        return response
    logger.warning("%s webhook from %s refused: %s", webhook, address, reason)
    return _refused(reason, 403)


@csrf_exempt
@require_POST
def admission_webhook(request):
    started = time.perf_counter()
    response, direction, outcome = _decide(request)
    ADMISSION_DECISIONS.labels(direction, outcome).inc()
    ADMISSION_SECONDS.observe(time.perf_counter() - started)
    return response


def _decide(request) -> tuple[JsonResponse, str, str]:
    """The answer, and for metrics the request's direction and what became of it."""
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _refused(f"the body is larger than {MAX_BODY_BYTES} bytes", 400), "unknown", "bad_request"
    signature = request.headers.get("X-OME-Signature")
    if not signature:
        return _signature_failed(request, "the X-OME-Signature header is missing"), "unknown", "bad_signature"
    if not admission.signature_is_valid(body, signature, settings.OME_WEBHOOK_SECRET):
        reason = "the X-OME-Signature does not match the body (check OME_WEBHOOK_SECRET)"
        return _signature_failed(request, reason), "unknown", "bad_signature"
    try:
        parsed = admission.parse(body)
    except admission.BadRequest as error:
        return _refused(str(error), 400), "unknown", "bad_request"
    if admission.is_stale(parsed):
        reason = (
            f"the request was signed at {parsed.time.isoformat()}, more than "
            f"{admission.max_age_seconds()} s from now (a replay, or OME's clock is off)"
        )
        return _signature_failed(request, reason), parsed.direction, "stale"
    answer = admission.answer(parsed)
    if parsed.status == admission.CLOSING:
        outcome = "closed"
    else:
        outcome = "allowed" if answer.get("allowed") else "refused"
    return JsonResponse(answer), parsed.direction, outcome


# --- TranscodeWebhook ------------------------------------------------------------------------

TRANSCODE_ANSWERS = Counter(
    "portal_transcode_answers_total",
    "TranscodeWebhook requests answered, by the delivery given (original, adaptive) or the refusal.",
    ["outcome"],
)


@csrf_exempt
@require_POST
def transcode_webhook(request):
    """OME asks which outputs to make of a stream it just created (once per stream).

    Answered from the room's settings, without calling OME, in at most two indexed queries (the
    room; recording what it was given when that changed). A stream that is no room's (or a body
    this version cannot read the stream name from) gets the original delivery: never an error
    that would stop a stream OME already admitted.
    """
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        TRANSCODE_ANSWERS.labels("bad_request").inc()
        return _refused(f"the body is larger than {MAX_BODY_BYTES} bytes", 400)
    signature = request.headers.get("X-OME-Signature")
    if not admission.signature_is_valid(body, signature, settings.OME_WEBHOOK_SECRET):
        TRANSCODE_ANSWERS.labels("bad_signature").inc()
        reason = (
            "the X-OME-Signature does not match the body (check OME_WEBHOOK_SECRET)"
            if signature
            else "the X-OME-Signature header is missing"
        )
        return _signature_failed(request, reason, webhook="transcode")
    try:
        data = jsonbody.loads(body)
    except ValueError:
        data = None
    stream = data.get("stream") if isinstance(data, dict) else None
    stream = stream if isinstance(stream, dict) else {}
    name = stream.get("name") if isinstance(stream.get("name"), str) else ""
    name = "" if "\x00" in name else name  # no room's: PostgreSQL text cannot hold NUL
    given, room_id = _delivery_for(name)
    TRANSCODE_ANSWERS.labels(given).inc()
    if room_id is None:
        # Not a room id: whatever the name is (a mistyped key?), it does not go into the log.
        logger.info("transcode webhook: a stream that is no room's gets the original delivery")
    else:
        logger.info("transcode webhook: room %s gets the %s delivery", room_id, given)
    return JsonResponse(quality.answer(quality=given, source=quality.Source.from_tracks(stream.get("tracks"))))


def _delivery_for(stream_name: str) -> tuple[str, str | None]:
    """The room's quality, noted as what its current stream was given (players follow that), and
    the room's id (None: no room has that stream name)."""
    row = (
        Room.objects.filter(public_id=stream_name).values_list("pk", "quality", "delivered_quality").first()
        if stream_name
        else None
    )
    if row is None:
        return Quality.ORIGINAL, None
    pk, wanted, delivered = row
    if wanted != delivered:
        Room.objects.filter(pk=pk).update(delivered_quality=wanted)
        facts.forget_room(public_id=stream_name)  # cached player pages name the sources to play
    return wanted, stream_name
