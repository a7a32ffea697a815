from django import forms

from .models import ROOM_ID_PATTERN, Room


class RoomForm(forms.ModelForm):
    public_id = forms.CharField(
        label="Room id",
        required=False,
        max_length=64,
        help_text="Lowercase letters, digits, '-' and '_'. Leave empty to get one generated. "
        "It appears in the room's URLs and cannot be changed later.",
        widget=forms.TextInput(attrs={"pattern": ROOM_ID_PATTERN, "autocapitalize": "none", "spellcheck": "false"}),
    )

    class Meta:
        model = Room
        fields = [
            "title",
            "public_id",
            "description",
            "visibility",
            "quality",
            "allowed_embed_origins",
            "auto_record",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "allowed_embed_origins": forms.Textarea(attrs={"rows": 3, "placeholder": "https://example.com"}),
            "quality": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["public_id"]
        # Scripts and old forms that do not send it keep the room's delivery.
        self.fields["quality"].required = False

    def clean_quality(self):
        return self.cleaned_data.get("quality") or self.instance.quality

    def clean_public_id(self):
        return (self.cleaned_data.get("public_id") or "").strip().lower()

    def _post_clean(self):
        # The model is validated by the service (which also generates ids and stream keys);
        # here only the fields the user typed are checked, so errors land next to them.
        left_empty = self.cleaned_data.get("public_id", None) == ""
        super()._post_clean()
        if not self.instance.pk and left_empty:
            self.errors.pop("public_id", None)
        self.errors.pop("stream_key_digest", None)


class EmbedLinkForm(forms.Form):
    """How long a new embed link of a private room works."""

    LIFETIMES = [
        (3600, "1 hour"),
        (6 * 3600, "6 hours"),
        (24 * 3600, "1 day"),
        (7 * 24 * 3600, "1 week"),
        (30 * 24 * 3600, "30 days"),
        (90 * 24 * 3600, "90 days"),
        (365 * 24 * 3600, "1 year"),
    ]

    lifetime = forms.TypedChoiceField(
        label="Link works for",
        choices=LIFETIMES,
        coerce=int,
        initial=30 * 24 * 3600,
        error_messages={
            "required": "Choose how long the link works.",
            "invalid_choice": "Choose how long the link works: from 1 hour to 1 year.",
        },
    )

    def lifetime_label(self) -> str:
        return dict(self.LIFETIMES)[self.cleaned_data["lifetime"]]
