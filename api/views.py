"""The API tokens page (owners and admins): create a token (shown once), see when each was last used, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import PortalError
from organizations.models import ROLE_RANK, Role
from organizations.tenancy import get_for_organization_or_404, member_required

from . import services
from .forms import ApiTokenForm
from .models import ApiToken


def _page(request, form: ApiTokenForm, *, new_token: str = "", status: int = 200):
    tokens = ApiToken.objects.for_organization(request.organization).select_related("created_by")
    my_rank = ROLE_RANK[Role(request.membership.role)]
    context = {
        "form": form,
        "tokens": tokens,
        "new_token": new_token,
        "revocable_roles": [role for role in Role if ROLE_RANK[role] <= my_rank],
        "docs_url": reverse("api:docs"),
        "api_base_url": request.build_absolute_uri(reverse("api:api-root")),
    }
    return render(request, "api/tokens.html", context, status=status)


@never_cache
@member_required(Role.ADMIN)
def api_tokens(request):
    form = ApiTokenForm(request.POST or None, actor_role=request.membership.role)
    if request.method == "POST" and form.is_valid():
        try:
            _api_token, token = services.create_api_token(
                actor=request.membership, name=form.cleaned_data["name"], role=form.cleaned_data["role"]
            )
        except PortalError as error:
            form.add_error(None, error.message)
        else:
            # Rendered, not redirected: the token exists in clear only in this answer.
            return _page(request, ApiTokenForm(actor_role=request.membership.role), new_token=token)
    return _page(request, form, status=400 if form.errors else 200)


@require_POST
@member_required(Role.ADMIN)
def api_token_revoke(request, token_id: int):
    api_token = get_for_organization_or_404(ApiToken, request.organization, pk=token_id)
    try:
        services.revoke_api_token(actor=request.membership, api_token=api_token)
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Token “{api_token.name}” revoked: programs using it get 401 from now on.")
    return redirect("api:tokens")
