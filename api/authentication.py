"""`Authorization: Bearer TOKEN` for the REST API: the token's organization and role drive everything."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from . import services
from .models import ApiToken


class TokenClient:
    """The program behind an API token, as `request.user`: signed in, never staff, not a person.

    Permissions read the token itself (`request.auth`); services get no user (`requested_by=None`).
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_token: ApiToken):
        self.api_token = api_token

    def __str__(self) -> str:
        return f"API token {self.api_token.display}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        if not token:
            raise exceptions.AuthenticationFailed("The Authorization header has no token after 'Bearer'.")
        api_token = services.authenticate(token)
        if api_token is None:
            raise exceptions.AuthenticationFailed("This API token is not valid: it is wrong or was revoked.")
        return TokenClient(api_token), api_token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when the token is missing or wrong.
        return f'{self.keyword} realm="api"'
