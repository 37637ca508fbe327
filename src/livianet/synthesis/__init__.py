"""Training images drawn from label maps: SynthSeg-style domain randomisation, in PyTorch.

``codes`` says what each label code becomes (model class, generation class, ROI),
``maps`` reads and indexes the label maps, ``priors`` estimates T1-like intensities
from real scans, ``params`` draws one sample's random parameters, ``render`` turns a
label patch into an image, and ``source.LabelMapSource`` puts them together: patches
for training, whole-map renders for validation and ``livianet synth``.
"""

from livianet.synthesis.codes import CodeTable, code_table
from livianet.synthesis.maps import LabelMap, load_label_maps, map_files
from livianet.synthesis.priors import (
    IntensityPriors,
    Prior,
    estimate_priors,
    priors_from_files,
    training_priors,
)
from livianet.synthesis.source import (
    SYNTHESIS_STREAM,
    LabelMapSource,
    PatchPlan,
    Rendered,
    row_seeds,
    sample_seeds,
)

__all__ = [
    "SYNTHESIS_STREAM",
    "CodeTable",
    "IntensityPriors",
    "LabelMap",
    "LabelMapSource",
    "PatchPlan",
    "Prior",
    "Rendered",
    "code_table",
    "estimate_priors",
    "load_label_maps",
    "map_files",
    "priors_from_files",
    "row_seeds",
    "sample_seeds",
    "training_priors",
]
