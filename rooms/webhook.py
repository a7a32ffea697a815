"""POST /ome/admission: the HTTP side of OME's AdmissionWebhooks (decisions in rooms.admission).

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

from core import ratelimit
from core.outage import cache_optional

from . import admission

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


def _signature_failed(request, reason: str) -> JsonResponse:
    # OME talks to the portal directly over the internal network: its own address is the one
    # to count, not X-Forwarded-For, which anybody in front of a proxy can write.
    address = request.META.get("REMOTE_ADDR", "")
    limit, window = _failures_allowed()
    if not _failure_allowed(address, limit=limit, window=window):
        response = _refused("too many requests with a bad signature: try again later", 429)
        response["Retry-After"] = str(window)
        return response
    logger.warning("admission webhook from %s refused: %s", address, reason)
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
