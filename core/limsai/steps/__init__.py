"""The AI steps limsai ships, one module per step; each declares its id, version, input model,
permissions, rollout phase and the adapter capabilities it needs (see ``limsai.runtime.registry``)."""
