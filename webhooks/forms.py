from django import forms

from .models import Event

EVENT_CHOICES = [(event.value, event.label) for event in Event if event != Event.PING]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="Where the portal POSTs events, e.g. https://example.com/hooks/streaming.",
        error_messages={"required": "Enter the address that receives the events."},
    )
    description = forms.CharField(max_length=200, required=False, help_text="What it is for (optional).")
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )

    def apply_errors(self, error) -> None:
        """Put a service's ValidationError on the fields it names."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


class EndpointEditForm(EndpointForm):
    enabled = forms.BooleanField(required=False, help_text="Disabled endpoints receive nothing.")
