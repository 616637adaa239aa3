"""The install bundle (``limsai bundle labvantage --out DIR``) and the plugin's hooks."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from limsai.cli import app
from limsai.runtime.adapters import adapter_factories
from limsai.runtime.settings import LimsInstance
from limsai_labvantage import plugin
from limsai_labvantage.adapter import LabVantageAdapter, create_adapter
from limsai_labvantage.bundle import build_bundle, verify_bundle


def test_bundle_holds_artefacts_template_guide_and_checksums(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bundle", "labvantage", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {
            "lims/limsai_callout.groovy",
            "lims/limsai_review_task.xml",
            "lims/saved_queries.sql",
            "ADMIN_GUIDE.md",
            "limsai.toml.template",
            "SHA256SUMS",
        } <= names
        sums = dict(reversed(line.split("  ")) for line in archive.read("SHA256SUMS").decode().splitlines())
        assert set(sums) == names - {"SHA256SUMS"}
        for name, digest in sums.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
        assert 'vendor = "labvantage"' in archive.read("limsai.toml.template").decode()
    assert verify_bundle(path) == []
    assert build_bundle(tmp_path / "again").read_bytes() == path.read_bytes()


def test_a_tampered_bundle_is_caught(tmp_path: Path) -> None:
    path = build_bundle(tmp_path)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data + b"\n-- changed" if name == "lims/limsai_callout.groovy" else data)
        target.writestr("extra.txt", b"x")
    assert verify_bundle(tampered) == [
        "lims/limsai_callout.groovy: checksum differs",
        "extra.txt: not listed in SHA256SUMS",
    ]


def test_plugin_registers_the_labvantage_factory_and_bundle(tmp_path: Path) -> None:
    assert [f.vendor for f in plugin.limsai_adapters()] == ["labvantage"]
    assert [name for name, _ in plugin.limsai_bundles()] == ["labvantage"]
    unknown = CliRunner().invoke(app, ["bundle", "labware", "--out", str(tmp_path), "--json"])
    assert unknown.exit_code == 3 and "plugins with a bundle: labvantage" in unknown.output
    factory = adapter_factories()["labvantage"]
    assert factory.start_simulator is not None
    (tmp_path / "secret").write_text("svc:pw\n")
    instance = LimsInstance(
        name="lv_prod", vendor="labvantage", base_url="https://lv.example", credentials_ref="file:secret"
    )
    adapter = create_adapter(instance, tmp_path)
    assert isinstance(adapter, LabVantageAdapter)
    assert (adapter.name, adapter.settings.username, adapter.settings.password.get_secret_value()) == (
        "lv_prod",
        "svc",
        "pw",
    )


def test_simulator_instance_builds_a_working_adapter_through_the_factory(tmp_path: Path) -> None:
    from limsai.lims.embedded import EmbeddedLims
    from limsai.lims.port import Scope
    from limsai.testing.factories import tiny_dataset
    from limsai_labvantage.harness import simulator_instance

    with EmbeddedLims(tmp_path / "lims.db") as store:
        store.load(tiny_dataset(), actor="system:test")
        expected = store.list_studies(Scope(sponsor_id="SPN-A"))
    factory = adapter_factories()["labvantage"]
    assert factory.start_simulator is not None
    simulator = factory.start_simulator(tmp_path)
    try:
        table = simulator_instance(simulator, tmp_path)  # type: ignore[arg-type]
        adapter = factory.create(LimsInstance.model_validate(table), tmp_path)
        assert adapter.list_studies(Scope(sponsor_id="SPN-A")) == expected
        assert table["base_url"] == simulator.url and table["credentials_ref"].startswith("file:")
    finally:
        simulator.stop()


@pytest.mark.slow
def test_the_wheel_carries_every_artefact_for_the_bundle(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    plugin_dir = Path(__file__).resolve().parents[3] / "plugins" / "labvantage"
    source = tmp_path / "src"  # a clean copy: no stale build/ or egg-info from a developer's tree
    shutil.copytree(plugin_dir, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
         "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.split("/share/limsai-labvantage/", 1)[1] for name in archive.namelist() if "/share/" in name
        }
    artefacts = {f"lims/{p.name}" for p in (plugin_dir / "lims").iterdir() if p.is_file()}
    assert shipped == artefacts | {"README.md"}
