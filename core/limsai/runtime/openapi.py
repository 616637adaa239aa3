"""The callout service's OpenAPI document, kept in the repository at ``docs/openapi.json`` so that
LIMS integrators can read it without running the service; a test fails when the two drift.

Regenerate: ``python -m limsai.runtime.openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def openapi_document() -> dict[str, Any]:
    from limsai.runtime.service import create_app
    from limsai.runtime.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        document: dict[str, Any] = create_app(load_settings(Path(tmp), environ={}), workers=0).openapi()
    return document


def main() -> None:
    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
