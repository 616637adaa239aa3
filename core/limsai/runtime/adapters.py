"""LIMS adapters by vendor: how the runtime turns a configured LIMS instance into a
:class:`~limsai.lims.port.LimsAdapter` without knowing any vendor by name.

Each vendor plugin contributes an :class:`AdapterFactory` through the ``limsai_adapters`` hook; the
core contributes ``embedded`` (the reference LIMS at ``DIR/lims.db``), this module being registered
as the core's plugin for that hook. :func:`adapter_for` picks the factory for a vendor and fails
with the installed vendors named when there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from limsai.lims.port import LimsAdapter
from limsai.runtime.hookspecs import hookimpl

if TYPE_CHECKING:
    from limsai.runtime.plugins import LimsaiPluginManager

EMBEDDED = "embedded"


@runtime_checkable
class RunningSimulator(Protocol):
    """A vendor simulator serving the work directory's reference data until stopped."""

    @property
    def url(self) -> str:
        """Base URL an adapter of this vendor connects to."""
        ...

    def stop(self) -> None: ...

    def lims_settings(self, workdir: Path, name: str) -> dict[str, str]:
        """The ``[lims.<name>]`` settings table that points an adapter at this simulator (writing
        any credentials it needs into ``workdir``)."""
        ...


@dataclass(frozen=True)
class AdapterFactory:
    """Makes adapters for one vendor. ``create(instance, workdir)`` builds an adapter for a
    configured LIMS instance (the instance settings are the vendor's business); the optional
    ``start_simulator(workdir)`` starts the vendor's simulator over the work directory's data."""

    vendor: str
    create: Callable[[Any, Path], LimsAdapter] = field(compare=False)
    start_simulator: Callable[[Path], RunningSimulator] | None = field(default=None, compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.vendor or self.vendor != self.vendor.strip().lower():
            raise ValueError(f"vendor {self.vendor!r} must be a non-empty lower-case name, e.g. 'labware'")


class UnknownVendor(LookupError):
    """No installed plugin provides an adapter for the vendor."""


class DuplicateVendor(ValueError):
    """Two sources provide an adapter factory for one vendor."""


def _embedded(instance: Any, workdir: Path) -> LimsAdapter:
    """The embedded LIMS of ``workdir`` (``instance`` is not used: the work directory is the
    instance); a work directory without one is an error, not a new empty LIMS."""
    from limsai.workdir import open_lims

    return open_lims(workdir)


EMBEDDED_FACTORY = AdapterFactory(
    vendor=EMBEDDED,
    create=_embedded,
    description="limsai's reference LIMS on SQLite (DIR/lims.db), for demos, tests and validation",
)


@hookimpl
def limsai_adapters() -> list[AdapterFactory]:
    """The core's adapter: the embedded reference LIMS."""
    return [EMBEDDED_FACTORY]


def adapter_factories(plugin_manager: LimsaiPluginManager | None = None) -> dict[str, AdapterFactory]:
    """Every installed factory by vendor; :class:`DuplicateVendor` names both sources of a vendor
    offered twice. Without ``plugin_manager`` the installed plugins are loaded."""
    if plugin_manager is None:
        from limsai.runtime.plugins import load_plugins

        plugin_manager = load_plugins()
    factories: dict[str, AdapterFactory] = {}
    sources: dict[str, str] = {}
    for name, factory in plugin_manager.contributions("limsai_adapters"):
        source = plugin_manager.source(name)
        if factory.vendor in factories:
            raise DuplicateVendor(
                f"vendor {factory.vendor!r} has two adapter factories: from {sources[factory.vendor]} "
                f"and from {source}"
            )
        factories[factory.vendor] = factory
        sources[factory.vendor] = source
    return factories


def adapter_for(
    vendor: str, instance: Any, workdir: Path, plugin_manager: LimsaiPluginManager | None = None
) -> LimsAdapter:
    """An adapter for ``instance`` of ``vendor``; :class:`UnknownVendor` names the installed ones."""
    factories = adapter_factories(plugin_manager)
    factory = factories.get(vendor)
    if factory is None:
        installed = ", ".join(sorted(factories)) or "none"
        raise UnknownVendor(
            f"no adapter for LIMS vendor {vendor!r} is installed (installed: {installed}); "
            f"install its plugin, e.g. `pip install limsai-{vendor}`"
        )
    return factory.create(instance, workdir)
