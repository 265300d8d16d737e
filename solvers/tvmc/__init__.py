"""t-VMC through NetKet, an optional extra: ``pip install -e ".[tvmc]"``.

Importing this package without NetKet and JAX raises ImportError with the install command, so
that the registry lists the solver as unavailable and a suite row becomes infeasible.
"""

try:
    import jax
    import netket  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"the tvmc solver needs NetKet and JAX ({exc.name} is missing): "
                      'pip install -e ".[tvmc]"') from exc

# the ansatz and the TDVP solve are in complex128 (NetKet turns this on too)
jax.config.update("jax_enable_x64", True)

from solvers.tvmc.solution import TVMCSolution  # noqa: E402
from solvers.tvmc.solver import TVMCSolver  # noqa: E402

__all__ = ["TVMCSolution", "TVMCSolver"]
