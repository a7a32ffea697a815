from django import forms

from .models import PLATFORM_SERVERS, Destination, Platform


class DestinationForm(forms.ModelForm):
    stream_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="From the platform's live dashboard. Stored encrypted; it is never shown again in full.",
    )

    class Meta:
        model = Destination
        fields = ["name", "platform", "url", "stream_key", "enabled", "auto_start"]
        widgets = {"url": forms.TextInput(attrs={"placeholder": "rtmp://live.example.com/app"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["url"].required = False
        self.fields["url"].help_text = "Only for “Other”: rtmp://, rtmps:// or srt://. Known platforms fill it in."
        self.fields["platform"].widget.attrs["data-servers"] = " ".join(
            f"{platform}={url}" for platform, url in PLATFORM_SERVERS.items()
        )
        if self.instance.pk:
            self.fields[
                "stream_key"
            ].help_text = f"Current key: {self.instance.masked_stream_key or 'none'}. Leave empty to keep it."

    def clean(self):
        data = super().clean()
        if data.get("platform") == Platform.CUSTOM and not data.get("url"):
            self.add_error("url", "Enter the server address, starting with rtmp://, rtmps:// or srt://.")
        return data

    def _post_clean(self):
        # The service validates the model (it fills in platform URLs and keeps unchanged keys).
        pass
