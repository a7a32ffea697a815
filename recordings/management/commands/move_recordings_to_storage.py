"""`manage.py move_recordings_to_storage`: move recordings made before RECORDINGS_STORAGE=s3 from the
recordings folder into the bucket.

Run it where the folder is (the recordings worker's container on OME's node). Each recording is
uploaded, verified, pointed at its object and only then removed from the folder, one at a time:
interrupt it whenever you like and run it again; it goes on with what is left (docs/deploy.md,
"Moving an existing archive into the bucket"). Members keep playing every recording meanwhile.
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from recordings import archive, storage


class Command(BaseCommand):
    help = "Move finished recordings from the recordings folder into the bucket (RECORDINGS_STORAGE=s3); resumable."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=0, help="Move at most this many recordings (default: all).")
        parser.add_argument("--dry-run", action="store_true", help="List what would be moved, move nothing.")

    def handle(self, *args, limit: int, dry_run: bool, **options):
        if not storage.uses_bucket():
            raise CommandError("RECORDINGS_STORAGE is not s3: there is no bucket to move recordings into.")
        if limit < 0:
            raise CommandError("--limit must be 0 (all) or more.")
        recordings = archive.movable_recordings()
        total = recordings.count()
        if limit:
            recordings = recordings[:limit]
        if dry_run:
            size = sum(recording.size_bytes for recording in recordings)
            self.stdout.write(f"{total} recording(s) to move ({size / 1e6:.1f} MB of the first {limit or total}).")
            self.stdout.write("Dry run: nothing was moved.")
            return
        self.stdout.write(f"{total} recording(s) to move.")
        outcomes: Counter[str] = Counter()
        for recording in recordings.iterator(chunk_size=100):
            outcome = archive.move_to_storage(recording)
            outcomes[outcome] += 1
            self.stdout.write(f"{recording.room.public_id} {recording.file_name}: {outcome}")
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing to do"
        self.stdout.write(f"Done: {summary}.")
        if outcomes["failed"]:
            raise CommandError(
                f"{outcomes['failed']} recording(s) could not be moved (see the log): their files stay in the folder. "
                "Run the command again once the bucket answers; it goes on with what is left."
            )
        if outcomes["missing"]:
            self.stdout.write(
                self.style.WARNING(
                    f"{outcomes['missing']} recording(s) have no file in this folder: is this the node with the "
                    "recordings volume? They are left as they are."
                )
            )
