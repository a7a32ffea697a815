"""OpenAPI 3 for the REST API (drf-spectacular): bearer auth, and docs served from the portal
itself (drf-spectacular-sidecar's Swagger UI files, no CDN; its Redoc page would fetch Google fonts)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

DESCRIPTION = """
Manage an organization's rooms, restreams, recordings and live sessions from a program.

**Authentication.** Owners and admins create API tokens on the portal's *API tokens* page. Send
one as `Authorization: Bearer TOKEN`. A token acts for its organization with its role (owner,
admin or streamer, as for members): streamers can list rooms, reveal stream keys, restream and
record; admins and owners also create, change and delete rooms and rotate stream keys.

**Errors.** `400` with messages per field for bad input, `401` for a missing or wrong token,
`403` when the token's role is not enough or a limit is reached, `404` for anything that is not
in the token's organization, `409` for a conflict (a room is live, a push is already running),
`429` when the token sends too many requests (see `Retry-After`).

**Lists** are paginated (`page`, `page_size` up to 200), filterable (see each list's
parameters) and ordered with `ordering` (e.g. `ordering=-created_at`).

**The original stack's API** is served too, for existing scripts: `/v1/vhosts/default/apps/app/streams`,
`…/app:startPush`, `…/app:stopPush`, `…/app:pushes`, `…/app:startRecord`, `…/app:stopRecord` and
`…/app:records`, in OvenMediaEngine's shapes, with `Authorization: Basic base64(TOKEN)`.
"""

SCHEMA_SETTINGS = {
    "TITLE": "Streaming Stack API",
    "DESCRIPTION": DESCRIPTION,
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PushStateEnum": "broadcasts.models.PushState",
        "RecordingStateEnum": "recordings.models.RecordingState",
        "RoleEnum": "organizations.models.Role",
    },
}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization API token (`sst_…`), created on the portal's API tokens page.",
        }


class SchemaView(SpectacularAPIView):
    custom_settings = SCHEMA_SETTINGS
    authentication_classes = []
    permission_classes = []

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI's files come from drf-spectacular-sidecar (SPECTACULAR_SETTINGS in settings)."""

    title = SCHEMA_SETTINGS["TITLE"]
    authentication_classes = []
    permission_classes = []
    http_method_names = ["get", "head"]  # a page to read: OPTIONS has nothing to describe
