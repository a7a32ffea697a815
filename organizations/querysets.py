"""The one place where data is scoped to an organization.

Every model that belongs to a tenant declares `organization_lookup` (the ORM path from the
model to its Organization) and uses `TenantQuerySet`. Views, the API, admin actions and
services read tenant data only through `for_organization()` / `get_for_organization_or_404()`,
so a query can't forget the filter: one organization never sees another's rooms, keys,
pushes or recordings.
"""

from __future__ import annotations

from django.db import models
from django.http import Http404


class TenantQuerySet(models.QuerySet):
    def for_organization(self, organization):
        """Rows of `organization` (an Organization or its pk); nothing for None."""
        if organization is None:
            return self.none()
        return self.filter(**{self.model.organization_lookup: organization})


def get_for_organization_or_404(model_or_qs, organization, **lookup):
    queryset = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs.objects.all()
    try:
        return queryset.for_organization(organization).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None
