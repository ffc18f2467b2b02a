"""prefect.yaml's digest entrypoint: the flow is newswatch.orchestrate.flows.digest."""

from newswatch.orchestrate.flows.digest import digest_flow

__all__ = ["digest_flow"]
