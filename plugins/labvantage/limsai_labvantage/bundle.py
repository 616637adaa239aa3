"""The LabVantage install bundle an administrator receives: one zip holding the LIMS-side artefacts
(``lims/``), a ``limsai.toml`` settings template, the admin guide (the plugin README) and a
``SHA256SUMS`` list (``<sha256>  <path>`` per file, as ``sha256sum -c`` reads it) that a later
installation qualification verifies. The zip is deterministic: same inputs, same bytes.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

from limsai_labvantage import __version__

SOURCE_ROOT = Path(__file__).resolve().parents[1]  # a source checkout or an editable install
INSTALLED_ROOT = Path(sys.prefix) / "share" / "limsai-labvantage"  # a wheel's data files
PLUGIN_ROOT = SOURCE_ROOT if (SOURCE_ROOT / "lims").is_dir() else INSTALLED_ROOT
ARTEFACTS = PLUGIN_ROOT / "lims"
GUIDE = PLUGIN_ROOT / "README.md"
FIXED_TIME = (2026, 1, 1, 0, 0, 0)

SETTINGS_TEMPLATE = """\
# limsai settings for a LabVantage instance: copy into DIR/limsai.toml and fill in.
# Secrets never live in this file: credentials_ref and secret_ref point at them.

[lims.labvantage_prod]
vendor = "labvantage"
base_url = "https://lims.example.com/labvantage"        # LabVantage REST root (serves /rest/...)
credentials_ref = "env:LABVANTAGE_PROD_CREDENTIALS"     # secret "username:password" of the REST user

[callers.labvantage_prod]                              # LabVantage calling limsai (Groovy step)
secret_ref = "file:/run/secrets/labvantage-caller"     # at least 32 bytes; same value as LIMSAI_SECRET
"""


def bundle_files() -> dict[str, bytes]:
    """Every file of the bundle by its path inside the zip (``SHA256SUMS`` included)."""
    if not ARTEFACTS.is_dir():
        raise FileNotFoundError(
            f"LIMS-side artefacts not found at {ARTEFACTS} (install from the plugin source)"
        )
    files: dict[str, bytes] = {
        f"lims/{p.name}": p.read_bytes() for p in sorted(ARTEFACTS.iterdir()) if p.is_file()
    }
    files["ADMIN_GUIDE.md"] = GUIDE.read_bytes()
    files["limsai.toml.template"] = SETTINGS_TEMPLATE.encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()
    return files


def build_bundle(out: Path) -> Path:
    """Write ``limsai-labvantage-<version>-bundle.zip`` into ``out`` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"limsai-labvantage-{__version__}-bundle.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(bundle_files().items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path


def verify_bundle(path: Path) -> list[str]:
    """Problems found checking a bundle against its ``SHA256SUMS`` (empty when it is intact)."""
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist()) - {"SHA256SUMS"}
        listed: set[str] = set()
        for line in archive.read("SHA256SUMS").decode().splitlines():
            digest, _, name = line.partition("  ")
            listed.add(name)
            if name not in names:
                problems.append(f"{name}: listed but missing")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(f"{name}: checksum differs")
        problems += [f"{name}: not listed in SHA256SUMS" for name in sorted(names - listed)]
    return problems
