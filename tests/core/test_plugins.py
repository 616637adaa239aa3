"""Vendor plugins are separate distributions found through entry points; a broken one is reported
by name without stopping the others; each installs with pip next to limsai."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from limsai.runtime import plugins as plugin_mod
from limsai.runtime.plugins import ENTRY_POINT_GROUP, discover

ROOT = Path(__file__).resolve().parents[2]
VENDORS = ("benchling", "labvantage", "labware", "samplemanager")


def test_all_four_plugins_are_discovered() -> None:
    found = {p.entry_point: p for p in discover()}
    assert set(VENDORS) <= set(found)
    for vendor in VENDORS:
        plugin = found[vendor]
        assert plugin.ok, plugin.error
        assert plugin.distribution == f"limsai-{vendor}"
        assert plugin.module == f"limsai_{vendor}.plugin"
        assert plugin.info is not None and plugin.info.name == vendor


def test_cli_lists_plugins_as_one_json_document() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "limsai.cli", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    names = [p["entry_point"] for p in json.loads(out.stdout)["plugins"]]
    assert set(VENDORS) <= set(names)


def test_a_broken_plugin_is_reported_and_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugin_mod.entry_points(group=ENTRY_POINT_GROUP)
    broken = [
        EntryPoint(name="aaa-missing", value="limsai_does_not_exist.plugin", group=ENTRY_POINT_GROUP),
        EntryPoint(name="zzz-wrong", value="json", group=ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(plugin_mod, "entry_points", lambda group: [*broken, *real])
    found = {p.entry_point: p for p in discover()}
    assert found["aaa-missing"].error is not None and "ModuleNotFoundError" in found["aaa-missing"].error
    assert found["zzz-wrong"].error is not None and "limsai_plugin_info" in found["zzz-wrong"].error
    assert all(found[v].ok for v in VENDORS)


@pytest.mark.slow
@pytest.mark.parametrize("vendor", VENDORS)
def test_plugin_installs_with_pip_next_to_limsai(vendor: str, tmp_path: Path) -> None:
    """A non-editable ``pip install ./plugins/<vendor>`` yields a wheel whose entry point limsai finds."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(ROOT / "plugins" / vendor),
        ],
        check=True,
        capture_output=True,
    )
    dist_infos = list(target.glob(f"limsai_{vendor}-*.dist-info"))
    assert len(dist_infos) == 1
    entry_points = (dist_infos[0] / "entry_points.txt").read_text()
    assert f"[{ENTRY_POINT_GROUP}]" in entry_points and f"{vendor} = limsai_{vendor}.plugin" in entry_points
    probe = f"""
import json, sys
sys.path.insert(0, {str(target)!r})
from importlib.metadata import distributions
dist = next(d for d in distributions(path=[{str(target)!r}]) if d.metadata["Name"] == "limsai-{vendor}")
ep = next(e for e in dist.entry_points if e.group == "{ENTRY_POINT_GROUP}")
module = ep.load()
print(json.dumps([ep.name, module.__file__, module.PLUGIN.name]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    name, module_file, plugin_name = json.loads(out.stdout)
    assert (name, plugin_name) == (vendor, vendor)
    assert module_file.startswith(str(target)), "the installed copy, not the development tree, was loaded"


@pytest.mark.slow
def test_core_builds_a_wheel_with_prompts_and_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("limsai-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = sorted(str(p.parent.relative_to(ROOT / "core")) for p in (ROOT / "core").rglob("__init__.py"))
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"add these packages to setup.cfg [options] packages: {missing}"
    assert "limsai/cli.py" in names and "limsai/lims/embedded/store.py" in names
    assert "limsai_prompts/registry.yaml" in names
    assert "limsai_prompts/templates/package_executive_summary.v1.txt" in names
    assert "limsai/packages/profiles/SPN-AURORA.yaml" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "limsai = limsai.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
