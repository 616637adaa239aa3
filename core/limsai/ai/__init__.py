"""Drafting text for AI steps: the drafter interface and its providers (deterministic templates now;
LLM providers plug in behind the same interface)."""
