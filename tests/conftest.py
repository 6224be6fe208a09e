"""Test-wide set-up: float64 on, the persistent compilation cache shared across runs."""

from bench.jax_setup import configure_jax

configure_jax()
