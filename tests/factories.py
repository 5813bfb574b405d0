"""factory_boy factories. Posts carry real media made by socialapp.demo_media through the real validator."""

from __future__ import annotations

import io

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from socialapp import services
from socialapp.models import Comment, Follow, Post, Profile, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")
    profile = factory.RelatedFactory("tests.factories.ProfileFactory", factory_related_name="user")


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory, profile=None)
    display_name = factory.Faker("name")


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


def jpeg_upload(name: str = "photo.jpg", size: tuple[int, int] = (64, 48), color: str = "teal") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


class PostFactory(factory.django.DjangoModelFactory):
    """A photo post created through ``services.post_create``, so its files are real and validated."""

    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    caption = factory.Faker("sentence")
    allow_remix = False

    @classmethod
    def _create(cls, model_class: type[Post], *args: object, **kwargs: object) -> Post:
        upload = kwargs.pop("upload", None) or jpeg_upload()
        return services.post_create(upload=upload, **kwargs)  # type: ignore[arg-type]


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    text = factory.Faker("sentence")

    @classmethod
    def _create(cls, model_class: type[Comment], *args: object, **kwargs: object) -> Comment:
        return services.comment_create(**kwargs)  # type: ignore[arg-type]
