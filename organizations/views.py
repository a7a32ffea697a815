"""Accounts and organizations: sign-up, sign-in, organizations, members and invitations."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import PortalError

from . import services, throttle
from .forms import EmailAuthenticationForm, InviteForm, OrganizationForm, RoleForm, SignUpForm
from .models import Invitation, Membership, Role
from .tenancy import get_for_organization_or_404, member_required, switch_organization


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        throttle.remember_browser(response, username=form.get_user().get_username())
        return response

    def form_invalid(self, form):
        return throttle.answer_throttled(super().form_invalid(form), form)


def admin_login(request):
    """The admin's sign-in page (forms.AdminSignInForm), answering 429 past the sign-in limits."""
    response = admin.site.login(request)
    if request.method == "POST" and response.status_code == 302 and request.user.is_authenticated:
        throttle.remember_browser(response, username=request.user.get_username())
    return throttle.answer_throttled(response, (getattr(response, "context_data", None) or {}).get("form"))


class PasswordResetView(auth_views.PasswordResetView):
    def form_valid(self, form):
        try:
            throttle.count_password_reset(self.request, email=form.cleaned_data["email"])
        except throttle.Throttled as refusal:
            form.throttled = refusal
            form.add_error(None, refusal.message)
            return throttle.answer_throttled(self.form_invalid(form), form)
        return super().form_valid(form)


def signup(request):
    if request.user.is_authenticated:
        return redirect("rooms:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, organization = services.sign_up(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            organization_name=form.cleaned_data["organization_name"],
            full_name=form.cleaned_data["full_name"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        switch_organization(request, organization.pk)
        messages.success(request, f"Welcome! {organization.name} is ready: create your first room.")
        return redirect("rooms:list")
    return render(request, "registration/signup.html", {"form": form})


def org_create(request):
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.create_organization(name=form.cleaned_data["name"], owner=request.user)
        switch_organization(request, organization.pk)
        messages.success(request, f"{organization.name} created.")
        return redirect("rooms:list")
    return render(request, "organizations/org_create.html", {"form": form})


@require_POST
def org_switch(request):
    if not request.user.is_authenticated:
        return redirect("login")
    try:
        organization_id = int(request.POST.get("organization", ""))
    except ValueError:
        return HttpResponseBadRequest("Choose an organization.")
    membership = switch_organization(request, organization_id)
    messages.info(request, f"Now working in {membership.organization.name}.")
    return redirect("rooms:list")


@member_required()
def members(request):
    organization = request.organization
    invite_form = InviteForm(request.POST or None)
    if request.method == "POST" and not request.membership.can_manage_members:
        raise PermissionDenied("Only owners and admins can manage members.")
    if request.method == "POST":
        if invite_form.is_valid():
            try:
                services.invite_member(
                    actor=request.membership,
                    email=invite_form.cleaned_data["email"],
                    role=invite_form.cleaned_data["role"],
                    accept_url_builder=lambda token: request.build_absolute_uri(
                        reverse("invitation_accept", args=[token])
                    ),
                )
            except PortalError as error:
                invite_form.add_error(None, error.message)
            else:
                messages.success(request, f"Invitation sent to {invite_form.cleaned_data['email']}.")
                return redirect("members")
    context = {
        "memberships": Membership.objects.for_organization(organization).select_related("user").order_by("user__email"),
        "invitations": Invitation.objects.pending().for_organization(organization),
        "invite_form": invite_form,
        "roles": Role.choices,
    }
    return render(request, "organizations/members.html", context, status=400 if invite_form.errors else 200)


@require_POST
@member_required(Role.ADMIN)
def member_role(request, membership_id: int):
    membership = get_for_organization_or_404(
        Membership.objects.select_related("user"), request.organization, pk=membership_id
    )
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: owner, admin or streamer.")
        return redirect("members")
    try:
        services.change_role(actor=request.membership, membership=membership, role=form.cleaned_data["role"])
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return redirect("members")


@require_POST
@member_required()
def member_remove(request, membership_id: int):
    membership = get_for_organization_or_404(
        Membership.objects.select_related("user"), request.organization, pk=membership_id
    )
    leaving = membership.pk == request.membership.pk
    try:
        services.remove_member(actor=request.membership, membership=membership)
    except PortalError as error:
        messages.error(request, error.message)
        return redirect("members")
    if leaving:
        messages.info(request, f"You left {membership.organization.name}.")
        return redirect("rooms:list")
    messages.success(request, f"{membership.user.email} was removed.")
    return redirect("members")


@require_POST
@member_required(Role.ADMIN)
def invitation_revoke(request, invitation_id: int):
    invitation = get_for_organization_or_404(Invitation.objects.pending(), request.organization, pk=invitation_id)
    invitation.delete()
    messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("members")


def invitation_accept(request, token: str):
    invitation = services.find_pending_invitation(token)
    if invitation is None:
        return render(request, "organizations/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                membership = services.accept_invitation(invitation=invitation, user=request.user)
            except PortalError as error:
                messages.error(request, error.message)
                return render(request, "organizations/invitation_accept.html", {"invitation": invitation}, status=403)
            switch_organization(request, membership.organization_id)
            messages.success(request, f"You joined {invitation.organization.name}.")
            return redirect("rooms:list")
        return render(request, "organizations/invitation_accept.html", {"invitation": invitation})
    # Not signed in: a new person creates their account right here; an existing one signs in.
    from .models import User

    if User.objects.filter(email__iexact=invitation.email).exists():
        return redirect(f"{reverse('login')}?next={request.path}")
    form = SignUpForm(request.POST or None, fixed_email=invitation.email, with_organization=False)
    if request.method == "POST" and form.is_valid():
        first, _, last = form.cleaned_data["full_name"].strip().partition(" ")
        user = User.objects.create_user(
            email=invitation.email, password=form.cleaned_data["password"], first_name=first, last_name=last
        )
        membership = services.accept_invitation(invitation=invitation, user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        switch_organization(request, membership.organization_id)
        messages.success(request, f"Welcome to {invitation.organization.name}!")
        return redirect("rooms:list")
    return render(request, "organizations/invitation_signup.html", {"invitation": invitation, "form": form})
