"""zsc: zero-shot clustering of unseen datasets with pretrained encoders (the workflow's logic)."""

__version__ = "0.1.0"
