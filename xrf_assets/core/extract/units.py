"""The one unit-conversion table: every quantity is converted by the unit the file actually sends.

Keys are UCUM code values as found in real files, including the non-UCUM spellings vendors send
(``Gym2`` from Siemens, ``dGy.cm2`` and ``mGy`` from Canon). A unit missing from the table is never
guessed: :func:`convert` raises :class:`UnknownUnit` and the caller records a null with the reason.
"""

from __future__ import annotations

# target unit -> {sent unit -> factor to multiply by}
_FACTORS: dict[str, dict[str, float]] = {
    "Gy.m2": {
        "Gy.m2": 1.0,
        "Gym2": 1.0,
        "Gy*m2": 1.0,
        "Gy.m^2": 1.0,
        "dGy.m2": 1e-1,
        "cGy.m2": 1e-2,
        "mGy.m2": 1e-3,
        "uGy.m2": 1e-6,
        "Gy.cm2": 1e-4,
        "dGy.cm2": 1e-5,
        "dGycm2": 1e-5,
        "cGy.cm2": 1e-6,
        "cGycm2": 1e-6,
        "mGy.cm2": 1e-7,
        "mGycm2": 1e-7,
        "uGy.cm2": 1e-10,
    },
    "Gy": {"Gy": 1.0, "dGy": 1e-1, "cGy": 1e-2, "mGy": 1e-3, "uGy": 1e-6},
    "mGy": {"mGy": 1.0, "Gy": 1e3, "dGy": 1e2, "cGy": 10.0, "uGy": 1e-3},
    "s": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0},
    "ms": {"ms": 1.0, "s": 1e3, "us": 1e-3},
    "mm": {"mm": 1.0, "cm": 10.0, "m": 1e3, "um": 1e-3},
    "m2": {"m2": 1.0, "cm2": 1e-4, "mm2": 1e-6},
    "kV": {"kV": 1.0, "V": 1e-3, "kVp": 1.0},
    "mA": {"mA": 1.0, "A": 1e3, "uA": 1e-3},
    "uA.s": {"uA.s": 1.0, "uAs": 1.0, "mA.s": 1e3, "mAs": 1e3, "A.s": 1e6, "As": 1e6},
    "mA.s": {"mA.s": 1.0, "mAs": 1.0, "uA.s": 1e-3, "uAs": 1e-3, "A.s": 1e3, "As": 1e3},
    "deg": {"deg": 1.0, "": 1.0, "°": 1.0},
    "/s": {"/s": 1.0, "{pulse}/s": 1.0, "pulse/s": 1.0, "{pulses}/s": 1.0, "1/s": 1.0, "Hz": 1.0},
    "1": {"1": 1.0, "{pulses}": 1.0, "{pulse}": 1.0, "{frames}": 1.0, "": 1.0},
    "kg": {"kg": 1.0, "g": 1e-3},
    "m": {"m": 1.0, "cm": 1e-2, "mm": 1e-3},
}


class UnknownUnit(ValueError):
    """The file sends a unit this table does not know; the value must not be used."""

    def __init__(self, sent: str, target: str) -> None:
        super().__init__(f"unknown unit {sent!r} for a quantity in {target}")
        self.sent = sent
        self.target = target


def factor(sent: str, target: str) -> float:
    """Multiplier from the unit sent to ``target``; raises :class:`UnknownUnit`."""
    try:
        return _FACTORS[target][sent.strip()]
    except KeyError:
        raise UnknownUnit(sent, target) from None


def convert(value: float, sent: str, target: str) -> float:
    return value * factor(sent, target)
