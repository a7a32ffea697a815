"""What an event says: its envelope, and the object "as the API shows it".

The API's serializers live above this app (api imports webhooks, never the reverse), so the API
registers how it shows each kind of object (`register_representation`) when it starts;
`represent()` uses that, and a minimal form if nothing is registered for a model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder

_representations: dict[type, Callable[[object], dict]] = {}


def register_representation(model: type, represent: Callable[[object], dict]) -> None:
    _representations[model] = represent


def represent(obj) -> dict:
    for model in type(obj).__mro__:
        if model in _representations:
            return _representations[model](obj)
    return {"id": obj.pk}


def envelope(*, event_id: uuid.UUID, event_type: str, created: datetime, organization_slug: str, data: dict) -> str:
    """The JSON body of a delivery (kept as text: every try sends the same bytes)."""
    return json.dumps(
        {
            "id": str(event_id),
            "type": event_type,
            "created": created,
            "organization": organization_slug,
            "data": data,
        },
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
