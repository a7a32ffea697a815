from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from .models import Role, User
from .throttle import ThrottledSignInMixin


class EmailAuthenticationForm(ThrottledSignInMixin, AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class AdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    """The admin's sign-in form, under the same limits as the portal's."""


class SignUpForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    organization_name = forms.CharField(
        max_length=120, label="Organization", help_text="Your team, channel or company. You can invite others later."
    )

    def __init__(self, *args, fixed_email: str | None = None, with_organization: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed_email = fixed_email
        if fixed_email:
            self.fields["email"].initial = fixed_email
            self.fields["email"].disabled = True
        if not with_organization:
            del self.fields["organization_name"]

    def clean_email(self):
        email = (self.fixed_email or self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            candidate = User(email=cleaned.get("email", ""), first_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class OrganizationForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organization name")


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STREAMER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
