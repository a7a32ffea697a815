"""The recordings bucket (RECORDINGS_STORAGE=s3): django-storages' S3 backend, set up from the
RECORDINGS_S3_* settings, for any S3-compatible service (AWS S3, MinIO, Backblaze B2,
Cloudflare R2, Wasabi ...).

Objects are private (no ACL is sent: the bucket's own policy, which must not be public, holds)
and read through presigned URLs that expire after RECORDINGS_S3_URL_SECONDS. boto3's managed
transfer uploads files from RECORDINGS_S3_PART_MB on in parts of that size, several at once.
Only this module knows it is S3: `head` gives what recordings.archive verifies an upload with.
"""

from __future__ import annotations

from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from django.conf import settings
from s3transfer.utils import ChunksizeAdjuster
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

MB = 1024 * 1024


class RecordingsBucket(S3Storage):
    def get_default_settings(self) -> dict:
        part = settings.RECORDINGS_S3_PART_MB * MB
        return {
            **super().get_default_settings(),
            "bucket_name": settings.RECORDINGS_S3_BUCKET,
            "region_name": settings.RECORDINGS_S3_REGION,
            "endpoint_url": settings.RECORDINGS_S3_ENDPOINT_URL,
            "access_key": settings.RECORDINGS_S3_ACCESS_KEY_ID,
            "secret_key": settings.RECORDINGS_S3_SECRET_ACCESS_KEY,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": settings.RECORDINGS_S3_URL_SECONDS,
            "file_overwrite": True,  # a retried upload replaces its own unfinished object
            "custom_domain": None,
            "location": "",
            "transfer_config": TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4),
            # Fail fast while the bucket is unreachable: the upload is tried again later anyway.
            "client_config": Config(
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }

    def part_size(self, size: int) -> int | None:
        """The size of the parts a file of `size` bytes is uploaded in; None for one request."""
        config = self.transfer_config
        if size < config.multipart_threshold:
            return None
        return ChunksizeAdjuster().adjust_chunksize(config.multipart_chunksize, size)

    def head(self, name: str) -> tuple[int, str]:
        """(size, ETag) of a stored object, as the service reports them."""
        answer = self.connection.meta.client.head_object(
            Bucket=self.bucket_name, Key=self._normalize_name(clean_name(name))
        )
        return answer["ContentLength"], answer.get("ETag", "").strip('"')
