"""Constrained multi-objective architecture search: objectives, samplers, execution, results."""
