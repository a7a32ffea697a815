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
    path("<str:public_id>/publish-credential", views.publish_credential, name="publish_credential"),
    path("<str:public_id>/embed-links", views.embed_link_create, name="embed_link_create"),
    path("<str:public_id>/embed-links/revoke", views.embed_links_revoke, name="embed_links_revoke"),
]
