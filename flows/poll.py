"""prefect.yaml's poll entrypoint: the flow is newswatch.orchestrate.flows.poll."""

from newswatch.orchestrate.flows.poll import poll_flow

__all__ = ["poll_flow"]
