"""Model factories for the tests (factory_boy)."""

import factory

from organizations.models import Membership, Organization, Role, User
from rooms.models import Room, generate_stream_key

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Test"
    password = factory.django.Password(PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.STREAMER


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    public_id = factory.Sequence(lambda n: f"room-{n:04d}")
    title = factory.Sequence(lambda n: f"Room {n}")

    @factory.post_generation
    def key(obj, create, extracted, **kwargs):
        obj.set_stream_key(extracted or generate_stream_key())
        if create:
            obj.save()
