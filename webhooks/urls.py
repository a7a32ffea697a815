"""The webhooks pages of the selected organization (owners and admins)."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<int:endpoint_id>/", views.endpoint_detail, name="detail"),
    path("<int:endpoint_id>/delete", views.endpoint_delete, name="delete"),
    path("<int:endpoint_id>/rotate-secret", views.rotate_secret, name="rotate_secret"),
    path("<int:endpoint_id>/ping", views.send_test, name="ping"),
    path("deliveries/<int:delivery_id>/resend", views.resend, name="resend"),
]
