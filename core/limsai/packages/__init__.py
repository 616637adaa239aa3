"""Data-package assembly and rendering: sponsor profiles, tables, documents, manifests."""
