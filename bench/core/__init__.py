"""The core: the step, its metrics, dispatch, the program store and the fused kernel.

Imports only landscapes and optimizers (never bench.run, bench.analysis or reports)."""
