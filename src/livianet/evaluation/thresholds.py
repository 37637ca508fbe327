"""The limits of every QC flag, and why each sits where it does.

:mod:`~livianet.evaluation.quality` and :mod:`~livianet.evaluation.brain_flags` read them from
:class:`Thresholds`; ``describe`` states the rules in words for the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from livianet.evaluation.values import fmt

# The thresholds. Healthy subcortical volumes vary by roughly 10-15 % (one SD) between adults
# of one study, and left/right asymmetry of thalamus, caudate, putamen and pallidum is usually
# within ~10 %; a failed segmentation (a structure lost, halved, leaking or split) moves far
# more. Each limit sits well outside healthy variation so that a normal scan is not flagged:
MIN_COHORT = 5  # robust z-scores only with at least this many scans holding the structure
Z_LIMIT = 3.5  # |robust z| above this is far from the run (the usual cut for the modified z)
# The robust SD (1.4826 x MAD) is floored at this share of the median: with few scans the MAD
# can come out tiny by chance, and healthy spread is about 10 % at least. With the floor, a
# volume must lie >= 35 % from the median to pass Z_LIMIT when the run itself is tight.
MIN_RELATIVE_SD = 0.10
# Training volumes come from few scans, so allow this share beyond their min and max before
# calling a volume outside the range (with 20 scans the range spans only about +-2 SD).
TRAINING_MARGIN = 0.20
# |L - R| / mean(L, R) above this is strongly asymmetric (healthy: within ~0.10).
ASYMMETRY_LIMIT = 0.25
# A structure whose largest connected piece holds less than this share of its volume is split
# into several large pieces (specks of a few voxels leave the share near 1).
LARGEST_PIECE_MIN = 0.80
# An extracted brain mask's volume (intracranial volume, CSF included): adults lie within
# about 1,100-1,900 cm3 (women to men, 2 SD); outside these limits the mask is wrong (a crop,
# a missed part, skull taken in) or the scan is not an adult head.
BRAIN_VOLUME_MIN_CM3 = 800.0
BRAIN_VOLUME_MAX_CM3 = 2300.0
# Labels are kept inside the mask: a structure with more voxels than this on the mask's edge
# is cut by it (the four deep structures lie centimetres inside a good brain mask).
EDGE_VOXELS_MAX = 0
# Place, in fractions of the brain mask's size along each axis (about 120-170 mm): a centroid
# more than this beyond the training scans' range is out of place (6 %: 7-10 mm; the worst
# of the eight training scans of the built-in model, left out in turn, lay 2 % beyond the
# others' range), and a span this much over the widest training span is over-extended (left
# out in turn, the worst span was 14 % over).
POSITION_MARGIN = 0.06
EXTENT_MARGIN = 0.30

MAD_TO_SD = 1.4826  # MAD x this estimates the SD of normally distributed values


@dataclass(frozen=True)
class Thresholds:
    """The limits of every flag; ``describe`` states the rules for the report."""

    min_cohort: int = MIN_COHORT
    z_limit: float = Z_LIMIT
    min_relative_sd: float = MIN_RELATIVE_SD
    training_margin: float = TRAINING_MARGIN
    asymmetry_limit: float = ASYMMETRY_LIMIT
    largest_piece_min: float = LARGEST_PIECE_MIN
    brain_volume_min_cm3: float = BRAIN_VOLUME_MIN_CM3
    brain_volume_max_cm3: float = BRAIN_VOLUME_MAX_CM3
    edge_voxels_max: int = EDGE_VOXELS_MAX
    position_margin: float = POSITION_MARGIN
    extent_margin: float = EXTENT_MARGIN

    def describe(self) -> list[str]:
        """The rules in words, for the report."""
        return [
            f"volume far from this run: |robust z| > {self.z_limit:g}, where z = (volume - median)"
            f" / robust SD over the run's scans, robust SD = {MAD_TO_SD} x MAD floored at"
            f" {self.min_relative_sd:.0%} of the median (only with >= {self.min_cohort} scans)",
            f"volume outside the model's training range widened by {self.training_margin:.0%}"
            " (below min x (1 - margin) or above max x (1 + margin))",
            f"left/right asymmetry |L - R| / mean(L, R) > {self.asymmetry_limit:.0%}",
            "structure missing (volume 0)",
            f"structure out of place: its centroid more than {self.position_margin:.0%} of the"
            " brain mask's size (along any axis) beyond the training scans' range, or its span"
            f" more than {self.extent_margin:.0%} over the widest training span",
            f"structure split: its largest connected piece holds < {self.largest_piece_min:.0%}"
            " of its volume",
            f"extracted brain mask of under {fmt(self.brain_volume_min_cm3)} or over"
            f" {fmt(self.brain_volume_max_cm3)} cm³ (implausible for an adult head), or a"
            f" structure with more than {self.edge_voxels_max} labelled voxels on the mask's edge",
            "any warning recorded by the segmentation (geometry, intensities, no brain found),"
            " and failures",
        ]
