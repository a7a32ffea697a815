"""Create (or refresh) the demo organization, login and room for the local quick start."""

from django.core.management.base import BaseCommand

from organizations.models import Membership, Organization, Role, User
from rooms.models import Room
from rooms.services import create_room

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_ROOM = "demo"
# `make run` serves a page on this port that embeds the demo room: "another site".
DEMO_SITE_ORIGINS = "http://127.0.0.1:8001\nhttp://localhost:8001"


class Command(BaseCommand):
    help = "Create the demo organization, a staff login and a room, and print how to sign in."

    def handle(self, *args, **options):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_superuser(email=DEMO_EMAIL, password=DEMO_PASSWORD, first_name="Demo")
        else:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        organization, _ = Organization.objects.get_or_create(slug="demo", defaults={"name": "Demo Organization"})
        Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": Role.OWNER})
        if not Room.objects.filter(public_id=DEMO_ROOM).exists():
            create_room(
                organization=organization,
                created_by=user,
                public_id=DEMO_ROOM,
                title="Demo room",
                allowed_embed_origins=DEMO_SITE_ORIGINS,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Demo login:  {DEMO_EMAIL}  /  {DEMO_PASSWORD}   (staff: /admin/ works too)\n  Demo room:   /rooms/{DEMO_ROOM}/\n"
            )
        )
