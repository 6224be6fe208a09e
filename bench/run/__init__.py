"""Running suites: suites, the runner, scipy references, the results store, records.

Imports bench.core, landscapes and optimizers; never bench.analysis or reports."""
