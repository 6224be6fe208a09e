"""Measurement and checking tools: run by hand or by benchmarks, never by a suite run."""
