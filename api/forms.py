from django import forms

from organizations.models import ROLE_RANK, Role


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What it is for, so you know which one to revoke, e.g. “OBS scene switcher”.",
        error_messages={"required": "Give the token a name."},
    )
    role = forms.ChoiceField(
        help_text="What the token may do: the same as a member with this role. At most your own role.",
        initial=Role.STREAMER,
    )

    def __init__(self, *args, actor_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (value, label) for value, label in Role.choices if ROLE_RANK[Role(value)] <= ROLE_RANK[Role(actor_role)]
        ]
