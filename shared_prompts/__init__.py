"""Approved, versioned prompt templates and their registry (installed as ``limsai_prompts``).

Templates live beside this file; ``registry.yaml`` lists each approved template by id, version and
sha256. A prompt runs only if its bytes hash to an approved entry.
"""
