"""OME's recording info XML: the final name, size and duration of what it recorded.

A finished record vanishes from OME's `:records`; this file, written at the record's InfoPath,
is then the only account of it. OME (0.19 to 0.21) writes `filePath` there (its REST answers say
`outputFilePath`, older versions `filePath`); either tag is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

from ome.client import parse_time


class InfoFileError(ValueError):
    """The info XML is missing a file entry or is not XML at all."""


@dataclass(frozen=True)
class RecordedFile:
    record_id: str
    file_path: str
    record_bytes: int
    record_time_ms: int
    sequence: int
    created_time: datetime | None
    start_time: datetime | None
    finish_time: datetime | None


def _text(element, *names: str) -> str:
    for name in names:
        child = element.find(name)
        if child is not None and child.text:
            return child.text.strip()
    return ""


def _int(element, name: str) -> int:
    try:
        return int(_text(element, name) or 0)
    except ValueError:
        return 0


def parse_info(xml: bytes | str) -> list[RecordedFile]:
    """Every <file> of an info XML, in sequence order."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise InfoFileError(f"not a recording info file: {error}") from None
    files = [
        RecordedFile(
            record_id=_text(element, "id"),
            file_path=_text(element, "filePath", "outputFilePath"),
            record_bytes=_int(element, "recordBytes"),
            record_time_ms=_int(element, "recordTime"),
            sequence=_int(element, "sequence"),
            created_time=parse_time(_text(element, "createdTime")),
            start_time=parse_time(_text(element, "startTime")),
            finish_time=parse_time(_text(element, "finishTime")),
        )
        for element in root.iter("file")
    ]
    files = [recorded for recorded in files if recorded.file_path]
    if not files:
        raise InfoFileError("the recording info file lists no file")
    return sorted(files, key=lambda recorded: recorded.sequence)
