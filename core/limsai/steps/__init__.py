"""The AI steps limsai ships, one module per step. Each public module defines ``STEP``, a
:class:`~limsai.runtime.registry.StepSpec` (id, version, input model, permissions, phase, the adapter
capabilities it needs and its ``run``); :func:`limsai.runtime.registry.load_registry` finds them here,
and plugins add theirs through the ``limsai_steps`` hook. Modules named ``_*`` are shared helpers."""
