"""The Multi-Power-Law paper's split of the shipped curves, shared by the tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lrlaw.curves import Curve
from lrlaw.io import load_curves

DATA = Path(__file__).resolve().parent.parent / "data"
#: Fit on these (Luo et al. 2025) ...
MPL_TRAIN = ("cosine_24000", "constant_24000", "wsdcon_9")
#: ... and predict these.
MPL_TEST = (
    "cosine_72000",
    "constant_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_18",
)


def mpl_curves(size: str, names: Sequence[str]) -> list[Curve]:
    """Curves ``names`` of the ``size`` ("25m" or "100m") model, with their exact schedules."""
    folder = DATA / "mpl" / size
    return load_curves([folder / f"{n}.csv" for n in names], schedules_file=DATA / "schedules.txt")
