"""Reference rows: scipy.optimize's methods on the same landscapes, instances, starts and targets.

On a smooth landscape a quasi-Newton method is what a reader would pick instead of SGD, so every
table and figure that compares optimizers shows these rows beside them, labelled "(reference)".
They run on the suite's fresh ``test_seeds`` starts, like the tuned configs they are compared with,
in float64 with the jitted objective and ``jax.grad`` as the gradient (and a JAX Hessian-vector
product for trust-krylov), on the CPU backend even where the sweeps run on an accelerator. Cost is counted in evaluations: one call of f (with its gradient where
the method uses one) is one evaluation, the unit of the engine's steps; steps-to-target is the
index of the first evaluation whose value is within the target, censored at the suite's budget.

scipy's solvers are sequential Python loops, so these rows cannot be vmapped: they run one start at
a time, which is why a suite lists the methods it wants rather than getting all of them.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from threadpoolctl import ThreadpoolController

import landscapes
from bench.core import environment
from bench.run.results import SCHEMA, stable_hash
from landscapes.errors import InputError, unknown_name
from landscapes.instances import (apply_instance, instance_fn, instance_minimizers,
                                  instance_minimum, instance_np_fn, make_instance)

GRADIENT_METHODS = ("L-BFGS-B", "BFGS", "CG", "trust-krylov")
METHODS = (*GRADIENT_METHODS, "Nelder-Mead")
REFERENCE_FAMILY = "scipy"


def reference_label(method: str) -> str:
    return f"scipy/{method} (reference)"


def check_methods(methods) -> tuple[str, ...]:
    """The suite's ``references`` list, checked: unknown methods list the close names, a repeated
    one is refused."""
    if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
        raise InputError(f"references must be a list of scipy method names ({', '.join(METHODS)})")
    for method in methods:
        if method not in METHODS:
            raise unknown_name("scipy reference method", method, METHODS)
    repeated = next((m for i, m in enumerate(methods) if m in methods[:i]), None)
    if repeated is not None:  # each would write the same rows and job marker again
        raise InputError(f"references repeat {repeated!r}; give each method once")
    return tuple(methods)


class _BudgetSpent(Exception):
    """Raised by the objective once the evaluation budget is used: scipy's own iteration limits
    count iterations, not evaluations, and a line search can spend thousands."""


@functools.cache
def _blas_threads():
    """One controller of the loaded BLAS libraries (scanning them costs ~2 ms; limiting, 20 us).

    scipy.optimize is imported first: scipy ships its own OpenBLAS, loaded by that import, and a
    controller made before it would limit numpy's only. Then scipy's threads spun beside every
    L-BFGS-B run, as much CPU time again as the run itself (the default suite's reference tasks took
    25.5 CPU-s of process time instead of 14.8, docs/performance.md)."""
    import scipy.optimize  # noqa: F401 (loads the library the controller must see)

    return ThreadpoolController()


def _packed_value_and_grad(objective):
    """x -> [f(x), *grad f(x)] as one array: one output buffer to copy back instead of two."""

    def packed(x):
        value, grad = jax.value_and_grad(objective)(x)
        return jnp.concatenate([value[None], grad])

    return packed


class _Jitted:
    """f, f with its gradient, and a Hessian-vector product, jitted once per (landscape, instance);
    f alone also in numpy (no dispatch cost), for the derivative-free method's many calls.

    The jitted functions are called with scipy's numpy float64 arrays as they are: wrapping them in
    ``jnp.asarray`` first was a separate ``device_put`` outside the jitted call's C++ fast path, and
    with the two outputs' conversions it was ~165 us of an evaluation's ~180 us; the packed
    ``value_and_grad`` is ~15 us. It compiles the same ops into one program, and gives the same
    bits as the unpacked one (checked in tests/test_reference.py).
    """

    def __init__(self, objective, numpy_objective):
        self.numpy_value = numpy_objective
        self.value = jax.jit(objective)
        self.value_and_grad = jax.jit(_packed_value_and_grad(objective))
        self.hessp = jax.jit(lambda x, p: jax.jvp(jax.grad(objective), (x,), (p,))[1])


class _Counted:
    """f (and its gradient) in float64, recording every value it returns, in call order."""

    def __init__(self, jitted: _Jitted, with_gradient: bool, budget: int,
                 box: np.ndarray | None = None, noise: tuple[float, Any] | None = None):
        self.values: list[float] = []
        # What counts for the targets: as in the engine, where f* is the minimum over the box only
        # (Landscape.bounded_domain), a point outside the box reaches no target (+inf).
        self.counted: list[float] = []
        self._box = box
        self.best_x: np.ndarray | None = None
        self._best = np.inf
        self._budget = budget
        self._with_gradient = with_gradient
        # A noisy landscape's model (``Landscape.noise_scale``): f exact, the gradient plus scale
        # times a standard normal, drawn from the run's own stream, as the engine's runs see it.
        self._noise = noise
        self._value_and_grad = jitted.value_and_grad
        self._value = jitted.numpy_value
        self.hessp = jitted.hessp

    def __call__(self, x):
        if len(self.values) > self._budget:
            raise _BudgetSpent
        if self._with_gradient:
            packed = np.asarray(self._value_and_grad(np.asarray(x, np.float64)))
            value, grad = float(packed[0]), packed[1:]
            if self._noise is not None:
                scale, rng = self._noise
                grad = grad + scale * rng.standard_normal(grad.shape)
        else:
            value, grad = float(self._value(np.asarray(x, np.float64))), None
        self.values.append(value)
        outside = self._box is not None and not bool(
            np.all((x >= self._box[:, 0]) & (x <= self._box[:, 1])))
        self.counted.append(np.inf if outside else value)
        if value < self._best:
            self._best, self.best_x = value, np.array(x, np.float64)
        return value if grad is None else (value, grad)


def _minimize(method: str, counted: _Counted, x0: np.ndarray, budget: int):
    import scipy.optimize  # here: the suite check and the run's main process need only the names

    options: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if method == "Nelder-Mead":
        options = dict(maxfev=budget, xatol=1e-12, fatol=1e-14)
    elif method == "L-BFGS-B":
        options = dict(maxfun=budget, maxiter=budget, ftol=1e-16, gtol=1e-12)
        kwargs["jac"] = True
    elif method == "trust-krylov":
        # A gradient tolerance near float64's floor made it iterate to the budget after converging.
        options = dict(maxiter=budget, gtol=1e-8)
        kwargs.update(jac=True, hessp=lambda x, p: np.asarray(counted.hessp(
            np.asarray(x, np.float64), np.asarray(p, np.float64))))
    else:  # BFGS, CG
        options = dict(maxiter=budget, gtol=1e-12)
        kwargs["jac"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # precision-loss and non-finite warnings are data here
        with np.errstate(all="ignore"):
            try:
                return scipy.optimize.minimize(counted, x0, method=method, options=options,
                                               **kwargs).x
            except _BudgetSpent:  # out of evaluations: the best point seen is where it ended
                return counted.best_x


@functools.lru_cache(maxsize=64)
def _jitted_instance(landscape, dim: int, instance_id: int) -> _Jitted:
    """Shared by every method and start on one instance, so each compiles once."""
    instance = make_instance(landscape, instance_id, dim)
    if instance.data is not None:  # the landscape's own instance (BBOB's)
        return _Jitted(instance_fn(landscape, instance), instance_np_fn(landscape, instance))
    if instance_id == 0:
        return _Jitted(landscape.fn, landscape.np_fn)
    return _Jitted(apply_instance(landscape, jnp.asarray(instance.shift), jnp.asarray(instance.matrix)),
                   instance_np_fn(landscape, instance))


def host_device():
    """The device the references evaluate f and its gradient on: the host's CPU backend, whatever
    the default device is. scipy asks for one point at a time, so on an accelerator every
    evaluation would be a synchronised device call and a copy back."""
    return jax.devices("cpu")[0]


def run_reference(landscape, dim: int, instance_id: int, method: str, starts: np.ndarray,
                  steps: int, targets, noise_seeds=None) -> dict[str, Any]:
    """One method from every start on one instance: the per-run arrays of a results record."""
    # L-BFGS-B's (and numpy's 2x2) BLAS calls are tiny, but OpenBLAS's threads wake for them and
    # fight JAX's: with one BLAS thread 50 L-BFGS-B runs took 0.07 s instead of 0.6-2.4 s on the
    # 2-core machine. Tiny calls run on one thread anyway, so the results are the same bits.
    with _blas_threads().limit(limits=1, user_api="blas"), jax.default_device(host_device()):
        return _run_reference(landscape, dim, instance_id, method, starts, steps, targets,
                              noise_seeds)


def _run_reference(landscape, dim: int, instance_id: int, method: str, starts: np.ndarray,
                   steps: int, targets, noise_seeds=None) -> dict[str, Any]:
    instance = make_instance(landscape, instance_id, dim)
    jitted = _jitted_instance(landscape, dim, instance_id)
    minimizers = instance_minimizers(landscape, instance)
    f_star = instance_minimum(landscape, instance)
    targets = np.asarray(targets, float)
    rows: dict[str, list] = {k: [] for k in ("steps_to_target", "reached", "final_gap", "best_gap",
                                             "distance", "basin", "status", "final_x",
                                             "evaluations", "gradient_evaluations")}
    box = landscape.box(dim) if landscape.bounded_domain else None
    if landscape.noise_scale and noise_seeds is None:
        raise InputError(f"{landscape.name} has gradient noise: a reference run needs its noise"
                         " seeds (one [seed, start] per start)")
    for j, x0 in enumerate(starts):
        noise = None
        if landscape.noise_scale:
            noise = (landscape.noise_scale, np.random.default_rng([int(v) for v in noise_seeds[j]]))
        counted = _Counted(jitted, method in GRADIENT_METHODS, steps, box, noise)
        x = np.asarray(_minimize(method, counted, np.asarray(x0, np.float64), steps), float)
        values = np.asarray(counted.counted[:steps + 1], float)  # the budget, as for the engine
        gaps = values - f_star
        final_gap = float(jitted.value(x)) - f_star
        finite = np.isfinite(gaps)
        # A non-finite trial point of a line search or trust region is not the iterate path: the
        # run diverged only if where it ended is non-finite.
        diverged = bool(not np.isfinite(final_gap) or not np.isfinite(x).all())
        hits = [np.flatnonzero(finite & (gaps <= tau)) for tau in targets]
        reached = np.array([h.size > 0 and not diverged for h in hits])
        first = np.array([h[0] if h.size else steps for h in hits])
        distances = np.linalg.norm(minimizers - x, axis=1)
        rows["steps_to_target"].append(np.where(reached, first, steps))
        rows["reached"].append(reached)
        rows["final_gap"].append(final_gap)
        seen = gaps[~np.isnan(gaps)]  # +inf where a bounded domain was left: counts, as in the engine
        rows["best_gap"].append(float(seen.min()) if seen.size else float("nan"))
        rows["distance"].append(float("nan") if diverged else float(distances.min()))
        rows["basin"].append(-1 if diverged else int(distances.argmin()))
        rows["status"].append(2 if diverged else (0 if reached[-1] else 1))
        rows["final_x"].append(x)
        rows["evaluations"].append(len(counted.values))
        rows["gradient_evaluations"].append(len(counted.values) if method in GRADIENT_METHODS else 0)
    return {k: np.asarray(v) for k, v in rows.items()}, minimizers, f_star


def reference_identity(suite, entry, method: str, instance_id: int) -> dict[str, Any]:
    """What makes a reference record: its ``record_id`` is this identity's hash."""
    identity = dict(kind="reference", method=method, landscape=entry.name, dim=entry.dim,
                    instance=instance_id, steps=suite.steps, targets=list(suite.targets),
                    seeds=list(suite.test_seeds), starts=suite.starts,
                    environment=environment.identity())
    if landscapes.get_landscape(entry.name).noise_scale:  # the engine's noise model, seeded per start
        identity["noise_seeds"] = [[int(s), j] for s in suite.test_seeds for j in range(suite.starts)]
    return identity


def reference_ids(suite, entry, method: str) -> list[str]:
    """The record ids of one (landscape entry, method)'s reference records, one per instance,
    known before any is computed: together they are one job of the results store."""
    return [stable_hash(reference_identity(suite, entry, method, i)) for i in entry.instances]


def reference_records(suite, entry, method: str, starts: np.ndarray,
                      done: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """The reference records of one (landscape entry, method): one per instance, phase "test";
    instances whose record id is in ``done`` are skipped (resume)."""
    landscape = landscapes.get_landscape(entry.name)
    records = []
    for instance_id in entry.instances:
        identity = reference_identity(suite, entry, method, instance_id)
        noise_seeds = identity.get("noise_seeds")
        if stable_hash(identity) in done:
            continue
        began = time.perf_counter()
        runs, minimizers, f_star = run_reference(landscape, entry.dim, instance_id, method, starts,
                                                 suite.steps, suite.targets, noise_seeds)
        seconds = time.perf_counter() - began
        evaluations = int(runs["evaluations"].sum())
        records.append(dict(
            schema=SCHEMA, record_id=stable_hash(identity), suite=suite.name, phase="test",
            reference=True, landscape=entry.name, dim=entry.dim, instance=instance_id,
            family=REFERENCE_FAMILY, schedule=method, label=reference_label(method), config={},
            config_index=0, steps=suite.steps, targets=list(suite.targets),
            success_target=suite.success_target, dtype="float64", seeds=list(suite.test_seeds),
            starts=suite.starts, f_star=f_star, minimizers=minimizers, x0=starts,
            identity=identity, runs=runs,
            cost=dict(compile_seconds=None, run_seconds=seconds, runs=len(starts), steps=suite.steps,
                      evaluations=evaluations,
                      steps_per_second=evaluations / seconds if seconds > 0 else None,
                      flops_per_step=None, peak_flops=None, roofline_fraction=None),
            **environment.stamp("float64")))
    return records
