from .tenancy import memberships_of


def tenancy(request):
    """The signed-in user's current organization and the others they can switch to."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_membership": request.membership,
        "current_organization": request.organization,
        "all_memberships": lambda: list(memberships_of(request.user)),
    }
