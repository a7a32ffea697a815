"""Reading a request's JSON body without letting its shape crash the portal.

`json.loads` raises RecursionError, not ValueError, on input nested deeper than Python's parser
follows (about a thousand brackets, 2 KB): every place that reads JSON from outside uses `loads`
here, so such a body is refused like any other malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any


def loads(body: bytes | str) -> Any:
    """`json.loads`, raising ValueError (with a message) for malformed and too deeply nested JSON."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
