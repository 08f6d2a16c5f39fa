"""Procedures the synthetic rooms perform, with plausible event counts and doses.

Typical total DAP values sit below the European DRLs (Siiskonen et al. 2018, in Gy.cm2: coronary
angiography 35, PCI 85, TAVI 130, electrophysiology 12, pacemaker 2.5-3.5), so a DRL comparison
finds a realistic spread rather than every study above the line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Procedure:
    description: str  # Study Description (0008,1030)
    key: str  # truth studies.procedure
    body_part: str  # Body Part Examined (0018,0015)
    fluoro_events: tuple[int, int]  # inclusive range
    acquisition_events: tuple[int, int]
    median_dap_gy_cm2: float  # typical study total
    fluoro_duration_s: tuple[float, float]
    acquisition_duration_s: tuple[float, float]
    fluoro_protocols: tuple[str, ...]
    acquisition_protocols: tuple[str, ...]  # each ends in its frame rate, "... 15fps"


PROCEDURES: dict[str, Procedure] = {
    p.description: p
    for p in (
        Procedure(
            "Coronary angiography",
            "coronary_angiography",
            "HEART",
            (3, 8),
            (5, 10),
            25.0,
            (3.0, 40.0),
            (2.5, 6.0),
            ("Fluoro Card Low", "Fluoro Card Normal"),
            ("Coro 15fps", "Coro LV 30fps"),
        ),
        Procedure(
            "PCI",
            "pci",
            "HEART",
            (6, 14),
            (8, 16),
            60.0,
            (5.0, 90.0),
            (2.5, 6.0),
            ("Fluoro Card Low", "Fluoro Card Normal"),
            ("Coro 15fps", "Stent Boost 30fps"),
        ),
        Procedure(
            "TAVI",
            "tavi",
            "HEART",
            (6, 12),
            (6, 12),
            90.0,
            (5.0, 90.0),
            (2.0, 5.0),
            ("Fluoro Card Normal",),
            ("Aortic Root 30fps", "Coro 15fps"),
        ),
        Procedure(
            "Electrophysiology",
            "electrophysiology",
            "HEART",
            (6, 12),
            (0, 2),
            8.0,
            (5.0, 120.0),
            (2.0, 4.0),
            ("Fluoro EP 7.5fps",),
            ("Coro 15fps",),
        ),
        Procedure(
            "Pacemaker implant",
            "pacemaker",
            "CHEST",
            (2, 6),
            (0, 1),
            2.0,
            (3.0, 60.0),
            (2.0, 3.0),
            ("Fluoro Card Low",),
            ("Coro 15fps",),
        ),
        Procedure(
            "Cerebral angiography",
            "cerebral_angiography",
            "HEAD",
            (3, 8),
            (6, 12),
            70.0,
            (5.0, 60.0),
            (4.0, 10.0),
            ("Fluoro Neuro",),
            ("DSA Neuro 3fps", "DSA Neuro 6fps"),
        ),
        Procedure(
            "Peripheral angiography",
            "peripheral_angiography",
            "LEG",
            (3, 8),
            (4, 10),
            40.0,
            (5.0, 60.0),
            (4.0, 10.0),
            ("Fluoro Periph",),
            ("DSA Periph 2fps",),
        ),
        Procedure(
            "Barium swallow",
            "barium_swallow",
            "ESOPHAGUS",
            (2, 5),
            (2, 5),
            6.0,
            (5.0, 60.0),
            (1.0, 3.0),
            ("Fluoro GI",),
            ("Spot Esophagus 3fps",),
        ),
        Procedure(
            "Barium enema",
            "barium_enema",
            "COLON",
            (3, 6),
            (4, 8),
            15.0,
            (10.0, 90.0),
            (1.0, 2.0),
            ("Fluoro GI",),
            ("Spot Colon 2fps",),
        ),
        Procedure(
            "ERCP",
            "ercp",
            "ABDOMEN",
            (2, 6),
            (1, 4),
            12.0,
            (10.0, 120.0),
            (1.0, 2.0),
            ("Fluoro Abdomen",),
            ("Spot Abdomen 2fps",),
        ),
        Procedure(
            "Hysterosalpingography",
            "hysterosalpingography",
            "PELVIS",
            (1, 3),
            (1, 3),
            1.5,
            (3.0, 30.0),
            (1.0, 2.0),
            ("Fluoro Pelvis",),
            ("Spot Pelvis 1fps",),
        ),
    )
}


def protocol_frame_rate(protocol: str) -> float:
    """Frames (pulses) per second of an acquisition protocol, from its ``...Nfps`` suffix."""
    return float(protocol.rsplit(" ", 1)[1].removesuffix("fps"))
