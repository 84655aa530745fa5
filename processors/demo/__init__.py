"""Example services that run on every worker."""
