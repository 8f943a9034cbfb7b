"""The interface every loss-curve law implements, and the law registry.

A law maps a learning-rate schedule to a predicted loss curve through a few
fitted parameters.  Adding a law is one new module with a :class:`Law`
subclass registered with :func:`register`:

- ``param_names`` and ``positive`` (which parameters are fitted through
  ``log``, so they stay > 0);
- ``prepare(lr, steps)``: the per-curve precomputation that does not depend
  on the fitted parameters (e.g. the areas S1, S2 at the observed steps).  It
  gets numpy arrays padded to power-of-two lengths (the LR extended with its
  last value, the steps with the last step) and returns a pytree of arrays;
  pad data-dependent sizes with :func:`bucket` too, so that compiled code is
  reused across curves;
- ``predict(params, prepared)``: the loss at those steps, a pure JAX
  function of the parameter vector (jit/vmap/grad friendly);
- ``initial_guesses(prepared, losses)``: a grid of data-driven starting
  points for the multi-start solver.

Options that are not fitted (e.g. the momentum decay ``lam``) are plain
keyword arguments of the constructor and are stored in fit results, so a
saved fit rebuilds exactly the law it was fitted with.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from lrlaw import _jaxcache
from lrlaw.errors import LrlawError

_jaxcache.enable()  # persistent XLA compilation cache (off: LRLAW_NO_XLA_CACHE=1)


__all__ = [
    "LAWS",
    "Law",
    "bucket",
    "get_law",
    "register",
]

LAWS: dict[str, type[Law]] = {}


bucket = _jaxcache.bucket  # padded sizes that share compiled code (re-exported here)


def register(cls: type[Law]) -> type[Law]:
    """Class decorator adding a law to :data:`LAWS` under ``cls.name``."""
    LAWS[cls.name] = cls
    return cls


def get_law(name: str, **options: Any) -> Law:
    """Build the law registered as ``name`` with its (non-fitted) options."""
    try:
        cls = LAWS[name]
    except KeyError:
        raise LrlawError(f"unknown law {name!r}; available: {', '.join(sorted(LAWS))}") from None
    return cls(**options)


class Law(abc.ABC):
    """A loss-curve law ``L(s) = f(schedule up to s; params)``."""

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    positive: ClassVar[tuple[bool, ...]]
    reference: ClassVar[str]
    #: Solve the starts in parallel with vmap (True) or one at a time (False,
    #: for laws whose prediction is memory-hungry).
    parallel_starts: ClassVar[bool] = True
    #: Laws solved in parallel: pad every solver call of a fit (starts, transient refit,
    #: held-out refits) to one number of rows, so that they share one compiled solver
    #: (True: laws whose iterations are cheap next to compiling the solver).  False: each
    #: call solves its own rows (a solver per row count, compiled once per machine with
    #: the persistent caches), for laws whose padding rows cost more than a compile.
    share_solver: ClassVar[bool] = True
    #: Laws solved in parallel: run the rows of a solver call in turn, in one compiled
    #: loop, instead of under vmap (True: laws whose iterations cost little per row).
    #: Under vmap every row iterates until the slowest row has converged, and a
    #: batched iteration costs about as much as the same iterations in turn; in turn
    #: each row stops at its own count and the padding rows are skipped.
    solve_in_turn: ClassVar[bool] = False
    #: Parameters confined to (0, 1), fitted through ``logit`` (empty: none).
    unit: tuple[bool, ...] = ()
    #: Plausible range per parameter; a fit outside it gets a warning.
    typical: ClassVar[dict[str, tuple[float, float]]] = {}

    @property
    def default_bootstrap(self) -> int:
        """Bootstrap replicates ``lrlaw fit`` draws when ``--bootstrap`` is not given.

        200 for every law: the default band's replicates are linearised refits (one
        Levenberg-Marquardt step each from the best fit, :mod:`lrlaw.fitting.uncertainty`),
        so their number costs little; the band's time goes into its few held-out exact
        refits.  (Until issue 16.5 laws solved one start at a time, multi-power, had no
        band by default, because every replicate was an exact refit.)
        """
        return 200

    @property
    @abc.abstractmethod
    def options(self) -> dict[str, Any]:
        """The non-fitted options, JSON-serialisable; ``type(self)(**options)`` rebuilds it."""

    @abc.abstractmethod
    def prepare(self, lr: np.ndarray, steps: np.ndarray) -> Any:
        """Per-curve precomputation for ``predict``: ``lr`` per step, ``steps`` observed."""

    @abc.abstractmethod
    def predict(self, params: jax.Array, prepared: Any) -> jax.Array:
        """Predicted loss at the prepared steps for the parameter vector ``params``."""

    def predict_host(self, params: np.ndarray, prepared: Any) -> np.ndarray | None:
        """``predict`` for one parameter vector ``(n_params,)`` or a stack ``(n, n_params)``
        in numpy on the host (rows of the result per row of ``params``), or ``None``: the
        law has no host form, and :func:`lrlaw.fitting.predict_curve` compiles ``predict``.

        A host form skips a compiled kernel per curve length for laws whose prediction is
        a few array operations on ``prepared`` (the momentum law): in a fresh process
        each kernel costs a compilation, or a read from the persistent cache.
        """
        return None

    def predict_jac_host(
        self, params: np.ndarray, prepared: Any
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The prediction ``(n_steps,)`` and its derivatives in the natural parameters
        ``(n_steps, n_params)``, in numpy on the host, or ``None`` (no host form: the fit's
        Jacobian is then ``jax.jacfwd`` of the residuals, compiled)."""
        return None

    def predict_jac(
        self, params: jax.Array, prepared: Sequence[Any]
    ) -> tuple[jax.Array, jax.Array] | None:
        """The prediction at the points of all of ``prepared`` (one entry per curve,
        concatenated in order) and its derivatives in the natural parameters
        ``(n_points, n_params)``, in JAX (traceable), or ``None``: the fit's compiled
        Levenberg-Marquardt then forms the Jacobian with ``jax.linearize`` (one JVP per
        parameter).  A closed form saves most of an iteration's cost for laws whose
        prediction is a few array operations (the momentum law, issue 18.3)."""
        return None

    @abc.abstractmethod
    def initial_guesses(self, prepared: Sequence[Any], losses: Sequence[np.ndarray]) -> np.ndarray:
        """Starting points, shape ``(n_starts, n_params)``, in natural units.

        ``prepared[i]`` may have been computed for a padded step list (the last
        step repeated): only its first ``len(losses[i])`` points are observed.
        """

    def final_loss(self, params: jax.Array, lr: jax.Array) -> jax.Array:
        """Predicted loss at the last step ``T = len(lr) - 1`` of the per-step schedule ``lr``.

        A closed form in ``O(T)``, pure JAX and differentiable in ``params`` and ``lr``:
        the objective of :func:`lrlaw.plan.optimal.optimize`.  Laws without one leave
        this default, which raises; :attr:`has_final_loss` tells which is which.
        """
        raise LrlawError(f"the {self.name} law has no closed-form final loss")

    @property
    def has_final_loss(self) -> bool:
        """Whether :meth:`final_loss` is implemented (schedule optimisation needs it)."""
        return type(self).final_loss is not Law.final_loss

    def to_unconstrained(self, params: jax.Array) -> jax.Array:
        """Map natural parameters to the solver's space: ``log`` for positive ones,
        ``logit`` for those in (0, 1) (``unit``), unchanged otherwise.  JAX arrays and
        tracers give a JAX array; anything else (numpy, lists) is mapped with numpy."""
        if not isinstance(params, jax.Array):  # host values: numpy, no JAX op to compile
            p = np.asarray(params, dtype=np.float64)
            unit = np.asarray(self.unit or (False,) * len(self.param_names))
            with np.errstate(all="ignore"):
                clipped = np.clip(p, 1e-15, 1 - 1e-15)
                logit = np.log(clipped) - np.log1p(-clipped)
                log = np.log(np.abs(p))
            return np.where(unit, logit, np.where(np.asarray(self.positive), log, p))
        params = jnp.asarray(params)
        unit = jnp.asarray(self.unit or (False,) * len(self.param_names))
        clipped = jnp.clip(params, 1e-15, 1 - 1e-15)
        logit = jnp.log(clipped) - jnp.log1p(-clipped)
        log = jnp.log(jnp.abs(params))
        return jnp.where(unit, logit, jnp.where(jnp.asarray(self.positive), log, params))

    def from_unconstrained(self, theta: jax.Array) -> jax.Array:
        """Inverse of :meth:`to_unconstrained` (numpy in, numpy out, as there)."""
        if not isinstance(theta, jax.Array):  # host values: numpy, no JAX op to compile
            t = np.asarray(theta, dtype=np.float64)
            unit = np.asarray(self.unit or (False,) * len(self.param_names))
            with np.errstate(all="ignore"):
                sigmoid = 1.0 / (1.0 + np.exp(-t))
                exp = np.exp(t)
            return np.where(unit, sigmoid, np.where(np.asarray(self.positive), exp, t))
        theta = jnp.asarray(theta)
        unit = jnp.asarray(self.unit or (False,) * len(self.param_names))
        return jnp.where(
            unit,
            jax.nn.sigmoid(theta),
            jnp.where(jnp.asarray(self.positive), jnp.exp(theta), theta),
        )

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.options == other.options  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.options.items()))))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"
