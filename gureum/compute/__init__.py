"""Compute: the Nova v2.1 API, the scheduler, and desired state for agents."""
