"""Plugin discovery: vendor plugins are separate distributions found through the entry-point group
``limsai.plugins``; limsai never imports a plugin by name.

Each entry point names a module that exposes ``PLUGIN``, a :class:`PluginInfo`. A plugin that fails
to import or declares nothing valid is reported by name with the reason and does not stop the others.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from pydantic import BaseModel, ConfigDict, ValidationError

ENTRY_POINT_GROUP = "limsai.plugins"


class PluginInfo(BaseModel):
    """What a plugin says about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    vendor: str
    version: str
    description: str = ""
    provides: tuple[str, ...] = ()


class DiscoveredPlugin(BaseModel):
    """One entry point of the group: the plugin it loaded, or why it could not be loaded."""

    model_config = ConfigDict(frozen=True)

    entry_point: str
    module: str
    distribution: str | None
    info: PluginInfo | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def discover() -> list[DiscoveredPlugin]:
    """Load every plugin registered in the ``limsai.plugins`` group, sorted by entry-point name."""
    found: list[DiscoveredPlugin] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else None
        base = {"entry_point": ep.name, "module": ep.value, "distribution": dist}
        try:
            module = import_module(ep.module)
            info = getattr(module, "PLUGIN", None)
            if not isinstance(info, PluginInfo):
                raise TypeError(f"module {ep.module} has no PLUGIN of type PluginInfo")
            found.append(DiscoveredPlugin(**base, info=info))
        except (Exception, ValidationError) as exc:  # a broken plugin must not stop the others
            found.append(DiscoveredPlugin(**base, error=f"{type(exc).__name__}: {exc}"))
    return found
