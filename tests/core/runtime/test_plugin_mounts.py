"""Routes and CLI commands that plugins contribute through the hooks are mounted; a plugin whose hook
fails adds nothing and the service still starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi import APIRouter

from limsai import cli
from limsai.runtime import plugins as plugin_mod
from limsai.runtime.hookspecs import hookimpl
from limsai.runtime.plugins import LimsaiPluginManager
from limsai.runtime.service import create_app
from limsai.runtime.settings import load_settings


class WebhookPlugin:
    @hookimpl
    def limsai_routes(self) -> list[Any]:
        router = APIRouter()

        @router.post("/webhook")
        async def webhook() -> dict[str, str]:
            return {"ok": "yes"}

        return [router]

    @hookimpl
    def limsai_cli_commands(self) -> list[tuple[str, Any]]:
        group = typer.Typer()

        @group.command("ping")
        def ping() -> None:
            typer.echo("pong")

        return [("fakevendor", group)]


class BrokenPlugin:
    @hookimpl
    def limsai_routes(self) -> list[Any]:
        raise RuntimeError("boom")


def manager() -> LimsaiPluginManager:
    pm = LimsaiPluginManager()
    pm.add_plugin(WebhookPlugin(), "fakevendor")
    pm.add_plugin(BrokenPlugin(), "broken")
    return pm


def test_plugin_routes_are_mounted_and_a_broken_one_is_skipped(tmp_path: Path) -> None:
    pm = manager()
    app = create_app(load_settings(tmp_path, environ={}), workers=0, plugin_manager=pm)
    paths = set(app.openapi()["paths"])
    assert "/plugins/fakevendor/webhook" in paths and "/v1/runs" in paths
    assert not any(p.startswith("/plugins/broken") for p in paths)
    assert any("boom" in failure for failure in pm.failures["broken"])


def test_plugin_cli_commands_are_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_mod, "load_plugins", manager)
    before = list(cli.app.registered_groups)
    try:
        cli._mount_plugin_commands()
        names = [g.name for g in cli.app.registered_groups]
        assert "fakevendor" in names and names.count("fakevendor") == 1
        assert {"scenario", "lims", "audit", "config"} <= set(names)
    finally:
        cli.app.registered_groups[:] = before
