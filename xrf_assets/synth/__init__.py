"""Synthetic XA/XRF images and X-ray radiation dose reports with exact ground truth.

No public archive pairs real angiography images with their dose reports, so the pipeline is tested
against a generated one: ``generate(out_dir, SynthConfig.demo(seed))`` writes ``out_dir/dicom`` and
``out_dir/truth`` and returns the :class:`GroundTruth` frames.
"""

from xrf_assets.synth.config import RoomSpec, SynthConfig, default_rooms
from xrf_assets.synth.corpus import generate
from xrf_assets.synth.truth import GroundTruth

__all__ = ["GroundTruth", "RoomSpec", "SynthConfig", "default_rooms", "generate"]
