"""Optimizer families on optax, with every hyperparameter an array (traced under vmap).

Every optax argument used here accepts a traced array: the constructors only branch on structure
(``callable(learning_rate)``, ``momentum is not None``, ``nesterov``), never on values. The one value
test in optax, ``add_decayed_weights``'s ``isinstance(weight_decay, (int, float)) and weight_decay ==
0.0`` shortcut, is simply skipped for arrays (adding 0·params is exact). Booleans that change the
program's structure (``nesterov``) are separate families rather than hyperparameters.

``momentum`` and ``nesterov`` are Keras's SGD exactly, decaying learning rates included: they are
``chain(scale_by_learning_rate(lr_t), trace(momentum, nesterov))`` (scale first), not ``optax.sgd``
(trace first, scale after), so with the ``time_based`` schedule the tutorial's
``SGD(lr=0.1, decay=0.1/60, momentum=0.8, nesterov=True)`` is reproduced step for step.
"""

from __future__ import annotations

import math

import optax

from optimizers.core import HParams, LearningRateFn, OptimizerFamily, Range
from optimizers.spaces import LogUniform, Uniform

INF = math.inf
_UNIT = Range(0.0, 1.0, True, False)  # momentum-like: 1 would never forget, so it is excluded
_POSITIVE = Range(0.0, INF, False, False)
_NON_NEGATIVE = Range(0.0, INF, True, False)
_MOMENTUM_SPACE = Uniform(0.0, 0.99)


def _sgd_with_momentum(hparams: HParams, learning_rate: LearningRateFn, nesterov: bool
                       ) -> optax.GradientTransformation:
    # Scale FIRST, then trace: v = momentum·v − lr_t·g; x += v (Nesterov: x += momentum·v − lr_t·g).
    # That is Keras's SGD exactly, also while lr_t changes (time-based decay). optax.sgd traces first and
    # scales after (v = momentum·v + g; x −= lr_t·v), which rescales the whole history by the current
    # lr_t and so differs from Keras whenever the learning rate is not constant.
    return optax.chain(optax.scale_by_learning_rate(learning_rate),
                       optax.trace(decay=hparams["momentum"], nesterov=nesterov))


def build_sgd(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Plain SGD: x ← x − lr_t·g."""
    return optax.scale_by_learning_rate(learning_rate)


def build_momentum(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Heavy ball, Keras form (Polyak 1964): v ← momentum·v − lr_t·g; x ← x + v."""
    return _sgd_with_momentum(hparams, learning_rate, nesterov=False)


def build_nesterov(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Nesterov momentum, Keras form (Sutskever et al. 2013): v ← momentum·v − lr_t·g;
    x ← x + momentum·v − lr_t·g."""
    return _sgd_with_momentum(hparams, learning_rate, nesterov=True)


def build_adam(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Adam (Kingma & Ba 2015), optax.adam."""
    return optax.adam(learning_rate, b1=hparams["b1"], b2=hparams["b2"], eps=hparams["eps"])


def build_adamw(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """AdamW (Loshchilov & Hutter 2019), optax.adamw; the weight decay is scaled by lr_t as in optax."""
    return optax.adamw(learning_rate, b1=hparams["b1"], b2=hparams["b2"], eps=hparams["eps"],
                       weight_decay=hparams["weight_decay"])


def build_rmsprop(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """RMSprop (Tieleman & Hinton 2012), optax.rmsprop; ``rho`` is optax's ``decay`` (Keras's name,
    which keeps it apart from the time-based schedule's ``decay``). momentum = 0 is plain RMSprop."""
    return optax.rmsprop(learning_rate, decay=hparams["rho"], eps=hparams["eps"],
                         momentum=hparams["momentum"])


def build_adagrad(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Adagrad (Duchi et al. 2011), optax.adagrad."""
    return optax.adagrad(learning_rate, initial_accumulator_value=hparams["initial_accumulator_value"],
                         eps=hparams["eps"])


def build_adadelta(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Adadelta (Zeiler 2012), optax.adadelta."""
    return optax.adadelta(learning_rate, rho=hparams["rho"], eps=hparams["eps"])


def build_nadam(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """NAdam (Dozat 2016), optax.nadam."""
    return optax.nadam(learning_rate, b1=hparams["b1"], b2=hparams["b2"], eps=hparams["eps"])


def build_lion(hparams: HParams, learning_rate: LearningRateFn) -> optax.GradientTransformation:
    """Lion (Chen et al. 2023), optax.lion."""
    return optax.lion(learning_rate, b1=hparams["b1"], b2=hparams["b2"], weight_decay=hparams["weight_decay"])


sgd = OptimizerFamily(
    name="sgd", build=build_sgd,
    defaults={"learning_rate": 0.01},
    space={"learning_rate": LogUniform(1e-4, 1.0)},
    source="Robbins & Monro 1951.",
)
momentum = OptimizerFamily(
    name="momentum", build=build_momentum,
    defaults={"learning_rate": 0.01, "momentum": 0.9},
    space={"learning_rate": LogUniform(1e-4, 1.0), "momentum": _MOMENTUM_SPACE},
    ranges={"momentum": _UNIT},
    source="Polyak 1964; update as Keras SGD(momentum=...).",
)
nesterov = OptimizerFamily(
    name="nesterov", build=build_nesterov,
    defaults={"learning_rate": 0.01, "momentum": 0.9},
    space={"learning_rate": LogUniform(1e-4, 1.0), "momentum": _MOMENTUM_SPACE},
    ranges={"momentum": _UNIT},
    source="Nesterov 1983; Sutskever et al. 2013; update as Keras SGD(momentum=..., nesterov=True).",
)
_ADAM_RANGES = {"b1": _UNIT, "b2": _UNIT, "eps": _POSITIVE}
adam = OptimizerFamily(
    name="adam", build=build_adam,
    defaults={"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    space={"learning_rate": LogUniform(1e-5, 1e-1), "b1": Uniform(0.8, 0.99), "b2": Uniform(0.9, 0.9999)},
    ranges=_ADAM_RANGES,
    source="Kingma & Ba 2015.",
)
adamw = OptimizerFamily(
    name="adamw", build=build_adamw,
    defaults={"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-4},
    space={"learning_rate": LogUniform(1e-5, 1e-1), "b1": Uniform(0.8, 0.99), "b2": Uniform(0.9, 0.9999),
           "weight_decay": LogUniform(1e-6, 1e-1)},
    ranges={**_ADAM_RANGES, "weight_decay": _NON_NEGATIVE},
    source="Loshchilov & Hutter 2019.",
)
rmsprop = OptimizerFamily(
    name="rmsprop", build=build_rmsprop,
    defaults={"learning_rate": 1e-3, "rho": 0.9, "eps": 1e-8, "momentum": 0.0},
    space={"learning_rate": LogUniform(1e-5, 1e-1), "rho": Uniform(0.8, 0.99), "momentum": _MOMENTUM_SPACE},
    ranges={"rho": _UNIT, "eps": _POSITIVE, "momentum": _UNIT},
    source="Tieleman & Hinton 2012, Coursera lecture 6.5.",
)
adagrad = OptimizerFamily(
    name="adagrad", build=build_adagrad,
    defaults={"learning_rate": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-7},
    space={"learning_rate": LogUniform(1e-4, 1.0)},
    ranges={"initial_accumulator_value": _NON_NEGATIVE, "eps": _POSITIVE},
    source="Duchi, Hazan & Singer 2011.",
)
adadelta = OptimizerFamily(
    name="adadelta", build=build_adadelta,
    defaults={"learning_rate": 1.0, "rho": 0.9, "eps": 1e-6},
    space={"learning_rate": LogUniform(1e-2, 10.0), "rho": Uniform(0.8, 0.99), "eps": LogUniform(1e-8, 1e-2)},
    ranges={"rho": _UNIT, "eps": _POSITIVE},
    source="Zeiler 2012.",
)
nadam = OptimizerFamily(
    name="nadam", build=build_nadam,
    defaults={"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
    space={"learning_rate": LogUniform(1e-5, 1e-1), "b1": Uniform(0.8, 0.99), "b2": Uniform(0.9, 0.9999)},
    ranges=_ADAM_RANGES,
    source="Dozat 2016.",
)
lion = OptimizerFamily(
    name="lion", build=build_lion,
    defaults={"learning_rate": 1e-4, "b1": 0.9, "b2": 0.99, "weight_decay": 1e-3},
    space={"learning_rate": LogUniform(1e-6, 1e-2), "b1": Uniform(0.8, 0.99), "b2": Uniform(0.9, 0.999),
           "weight_decay": LogUniform(1e-6, 1e-1)},
    ranges={"b1": Range(0.0, 1.0), "b2": Range(0.0, 1.0), "weight_decay": _NON_NEGATIVE},
    source="Chen et al. 2023, Symbolic Discovery of Optimization Algorithms.",
)
