from django.urls import path

from . import views

app_name = "rooms"

urlpatterns = [
    path("", views.room_list, name="list"),
    path("new/", views.room_create, name="create"),
    path("<str:public_id>/", views.room_detail, name="detail"),
    path("<str:public_id>/edit/", views.room_edit, name="edit"),
    path("<str:public_id>/delete/", views.room_delete, name="delete"),
    path("<str:public_id>/publish", views.publisher, name="publish"),
    path("<str:public_id>/stream-key", views.stream_key, name="stream_key"),
    path("<str:public_id>/rotate-key", views.rotate_key, name="rotate_key"),
    path("<str:public_id>/status", views.room_status, name="status"),
]
