from django.urls import path

from . import views

app_name = "broadcasts"

urlpatterns = [
    path("status", views.restream_status, name="status"),
    path("destinations/new", views.destination_create, name="destination_create"),
    path("destinations/<int:destination_id>/edit", views.destination_edit, name="destination_edit"),
    path("destinations/<int:destination_id>/delete", views.destination_delete, name="destination_delete"),
    path("destinations/<int:destination_id>/start", views.push_start, name="push_start"),
    path("pushes/<int:push_id>/stop", views.push_stop, name="push_stop"),
    path("pushes/<int:push_id>/retry", views.push_retry, name="push_retry"),
]
