"""The embedded reference LIMS (SQLite): see :mod:`limsai.lims.embedded.store`."""

from limsai.lims.embedded.store import DEFAULT_PAGE_SIZE, EmbeddedLims

__all__ = ["DEFAULT_PAGE_SIZE", "EmbeddedLims"]
