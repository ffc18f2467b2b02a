"""The Prefect deployments' entrypoints (prefect.yaml): the flows themselves are
newswatch.orchestrate.flows, thin wrappers over newswatch.orchestrate.pipeline."""
