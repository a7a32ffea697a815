"""Limits on sign-in attempts and password-reset mails, and why they are shaped this way.

Sign-in (the sign-in page and the admin's, through `ThrottledSignInMixin`)
--------------------------------------------------------------------------
Two limits, both counting *failed* attempts in a fixed window (`SIGNIN_FAILURE_WINDOW_SECONDS`):

* per client address, across accounts (`SIGNIN_FAILURES_PER_ADDRESS`): one machine spraying a
  common password over many accounts. The address is `ratelimit.client_ip()` (trusted proxies
  only, so a forged X-Forwarded-For buys nothing) and an IPv6 client counts as its /64.
* per account, across addresses (`SIGNIN_FAILURES_PER_ACCOUNT`): many machines guessing one
  account's password. Lower than the address limit: people mistype their own password a few
  times at most, and a botnet has more addresses than any per-address limit can cover.

Failures, not attempts: a correct password never counts, so signing in often is never
throttled, and a user who mistyped twice has the rest of the budget. To keep concurrent
requests from all slipping under the limit while their passwords are being hashed, each
attempt is counted *before* the password is checked and taken back when it was right.
Once a limit is reached, attempts are refused (HTTP 429, `Retry-After`, a form error in words)
without checking the password, so the attacker learns nothing more until the window ends.

A limit per account is also a way to lock someone out: anyone can keep failing on their behalf,
forever, by sending a few guesses every window. So a browser that has signed in to an account
before carries a signed cookie naming that account (OWASP's "device cookie"); on that browser,
attempts for that account are counted against the cookie instead of the account and the
address. The owner's usual browser keeps working while their account is attacked, the cookie is
worth nothing for any other account, and a stolen cookie still gets only the per-account
budget. A new browser, while the account is under attack, waits for the window to end (or the
owner resets the password, which the limits do not block). The windows are fixed, so a patient
attacker gets at most twice a limit around a window boundary; the point is to turn millions of
guesses a day into a few hundred, not to count exactly.

Password-reset mails
--------------------
Counted per request (every request may send a mail), per client address
(`PASSWORD_RESETS_PER_ADDRESS`) and per email address typed in (`PASSWORD_RESETS_PER_EMAIL`),
whether or not an account has it: the answer — a redirect to "check your mail" under the
limits, 429 over them — is the same for known and unknown addresses, so the page reveals
nothing, and nobody can flood a mailbox. A refused request sends nothing and is not counted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError

from core import ratelimit

DEVICE_COOKIE = "known_browser"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
_DEVICE_SALT = "organizations.throttle.known-browser"


class Throttled(Exception):
    def __init__(self, message: str, *, retry_after: int):
        minutes = max(1, -(-retry_after // 60))
        self.message = f"{message} Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        self.retry_after = retry_after
        super().__init__(self.message)


def _account_key(email: str) -> str:
    # A digest, not the address itself: cache keys end up in Redis dumps and monitoring.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _hit_all(limits: list[tuple[str, str, int, int]], message: str) -> list[ratelimit.Hit]:
    """Count one hit on every (scope, key, limit, window); all or nothing."""
    hits: list[ratelimit.Hit] = []
    for scope, key, limit, window in limits:
        counted = ratelimit.hit(scope, key, limit=limit, window_seconds=window)
        hits.append(counted)
        if not counted.allowed:
            for taken in hits:
                taken.undo()
            raise Throttled(message, retry_after=counted.retry_after)
    return hits


# --- Sign-in ----------------------------------------------------------------------------------


@dataclass
class SignInAttempt:
    """An attempt counted as a failure in advance; `succeeded()` takes it back."""

    hits: list[ratelimit.Hit] = field(default_factory=list)

    def succeeded(self) -> None:
        for counted in self.hits:
            counted.undo()
        self.hits = []


def _known_browser(request, account: str) -> str | None:
    """The id of this browser's device cookie, when it was issued for `account`."""
    value = request.COOKIES.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        data = signing.loads(value, salt=_DEVICE_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("account") != account:
        return None
    return str(data.get("browser", "")) or None


def begin_sign_in(request, *, username: str) -> SignInAttempt:
    """Count a sign-in attempt for `username` as failed until it succeeds; Throttled past a limit."""
    account = _account_key(username)
    window = settings.SIGNIN_FAILURE_WINDOW_SECONDS
    browser = _known_browser(request, account)
    if browser is not None:
        limits = [("signin-browser", browser, settings.SIGNIN_FAILURES_PER_ACCOUNT, window)]
    else:
        address = ratelimit.address_key(ratelimit.client_ip(request))
        limits = [
            ("signin-address", address, settings.SIGNIN_FAILURES_PER_ADDRESS, window),
            ("signin-account", account, settings.SIGNIN_FAILURES_PER_ACCOUNT, window),
        ]
    message = "Too many failed sign-in attempts. If you forgot your password, reset it."
    return SignInAttempt(_hit_all(limits, message))


def remember_browser(response, *, username: str) -> None:
    """After a successful sign-in: this browser may sign in to this account while it is attacked."""
    value = signing.dumps({"account": _account_key(username), "browser": secrets.token_urlsafe(16)}, salt=_DEVICE_SALT)
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


class ThrottledSignInMixin:
    """For AuthenticationForm subclasses: the limits around the password check.

    `throttled` holds the refusal, so the view can answer 429 with `Retry-After`.
    """

    throttled: Throttled | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not (username and password and self.request is not None):
            return super().clean()  # nothing to check a password against
        try:
            attempt = begin_sign_in(self.request, username=username)
        except Throttled as refusal:
            self.throttled = refusal
            raise ValidationError(refusal.message, code="throttled") from None
        cleaned = super().clean()  # a wrong password raises here: the failure stays counted
        attempt.succeeded()
        return cleaned


def answer_throttled(response, form):
    """Turn a form page into a 429 when the form was refused by a limit."""
    refusal = getattr(form, "throttled", None)
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response


# --- Password-reset mails ---------------------------------------------------------------------


def count_password_reset(request, *, email: str) -> None:
    """Count a password-reset request; Throttled (nothing counted) past a limit."""
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    address = ratelimit.address_key(ratelimit.client_ip(request))
    _hit_all(
        [
            ("reset-address", address, settings.PASSWORD_RESETS_PER_ADDRESS, window),
            ("reset-email", _account_key(email), settings.PASSWORD_RESETS_PER_EMAIL, window),
        ],
        "Too many password reset requests. Check your spam folder for the mails already sent.",
    )
