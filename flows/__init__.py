"""Prefect flows: thin orchestration over the newswatch package (no logic lives here)."""
