"""Shared infrastructure every app uses and that imports no app: the REST envelope and paging,
domain errors, health, metrics, logging, the origin check, the channel layer, the shared Redis
store and limiter, and the `serve` command."""
