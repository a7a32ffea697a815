"""How the portal answers a button: JSON for the page's scripts, a redirect with a message otherwise.

Pages work without JavaScript (a form posts, the room page comes back with a message) and the
page scripts post the same forms asking for JSON, to update in place without reloading.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect

from .errors import PortalError
from .outage import queue_delay_notice, queue_unavailable


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def action_answer(request, *, back_to: str, data: dict | None = None, error: PortalError | None = None, done: str = ""):
    """Answer an action: `error` (a refused request) or `data`/`done` (it worked); `back_to` is a URL.

    When the work was stored but could not be queued (Redis down), the answer says that it waits.
    """
    notice = queue_delay_notice() if error is None and queue_unavailable() else ""
    if wants_json(request):
        if error is not None:
            return JsonResponse({"detail": error.message}, status=error.status_code)
        body = dict(data) if data is not None else {"detail": done}
        if notice:
            body["notice"] = notice
        return JsonResponse(body)
    if error is not None:
        messages.error(request, error.message)
    elif done:
        messages.success(request, done)
    if notice:
        messages.warning(request, notice)
    return redirect(back_to)
