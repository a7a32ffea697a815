"""`manage.py rotate_encryption_keys`: re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY.

Run it after deploying FIELD_ENCRYPTION_KEY=NEW,OLD; once it reports nothing left to re-encrypt
and nothing it could not decrypt, OLD can be removed (docs/deploy.md, "Rotating FIELD_ENCRYPTION_KEY").
"""

from django.core.management.base import BaseCommand, CommandError

from core.key_rotation import DEFAULT_BATCH_SIZE, rotate_encryption_keys


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first FIELD_ENCRYPTION_KEY, so older keys can be removed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Rows per transaction (default: %(default)s)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would change, change nothing.")

    def handle(self, *args, batch_size: int, dry_run: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        reports = rotate_encryption_keys(batch_size=batch_size, dry_run=dry_run)
        failed = 0
        for report in reports:
            counts = report.counts
            verb = "to re-encrypt" if dry_run else "re-encrypted"
            line = f"{report.label}: {counts['reencrypted']} {verb}, {counts['current']} already under the first key"
            if counts["failed"]:
                failed += counts["failed"]
                shown = ", ".join(str(pk) for pk in report.failed_pks[:20])
                line += f", {counts['failed']} could not be decrypted with any configured key (ids {shown})"
            self.stdout.write(line)
            if report.digest_label and counts["digests"]:
                self.stdout.write(
                    f"{report.digest_label}: {counts['digests']} {'to recompute' if dry_run else 'recomputed'}"
                )
        if failed:
            raise CommandError(
                f"{failed} stored secrets could not be decrypted with any key in FIELD_ENCRYPTION_KEY: put back the key "
                "that encrypted them (after the first) and run this again. Do not remove any key until this succeeds."
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        else:
            self.stdout.write(
                self.style.SUCCESS("Every stored secret is encrypted with the first key: older keys can go.")
            )
