"""Test support shipped with limsai: small hand-built datasets now, the adapter conformance suite
that every vendor plugin runs against its simulator later."""
