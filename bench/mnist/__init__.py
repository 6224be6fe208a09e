"""The MNIST MLP track: data, model, vmapped training and cross-validated search, a scikit-learn estimator.

See docs/mnist.md. Submodules are imported on use (``from bench.mnist.train import fit_runs``); this
package module imports nothing heavy.
"""
