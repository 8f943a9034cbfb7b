"""Loss-curve laws: the :class:`Law` interface, the registry and the built-in laws."""

from lrlaw.laws.base import LAWS, Law, get_law, register
from lrlaw.laws.convex import ConvexLaw
from lrlaw.laws.efflr import EffectiveLRLaw
from lrlaw.laws.momentum import MomentumLaw
from lrlaw.laws.multipower import MultiPowerLaw

__all__ = [
    "LAWS",
    "ConvexLaw",
    "EffectiveLRLaw",
    "Law",
    "MomentumLaw",
    "MultiPowerLaw",
    "get_law",
    "register",
]
