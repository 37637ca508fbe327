"""Whether a segmentation's structure volumes look like the training data's.

A scan unlike the training scans (another contrast, a field of view that cuts
the brain, a missing brain mask) still gets labels; the volumes are the
cheapest sign that they may be wrong. The report's QC flags use a narrow band
around the training range; this check only speaks when a volume is far
outside it, so a warning means "look at this scan".
"""

from __future__ import annotations

from collections.abc import Mapping

FAR_BELOW = 0.5  # under half the smallest training volume
FAR_ABOVE = 2.0  # over twice the largest


def volumes_far_from_training(
    volumes: Mapping[int, float],
    training: Mapping[int, tuple[float, float, float]],
    names: Mapping[int, str],
) -> str | None:
    """One warning naming every structure far outside its training range, or None.

    Args:
        volumes: mm3 per label of this scan.
        training: per label, ``(min, mean, max)`` mm3 over the training label maps.
        names: label names for the message.

    >>> volumes_far_from_training({1: 100.0, 2: 900.0}, {1: (800, 900, 1000), 2: (800, 900, 1000)}, {1: "A"})
    'structure volumes far outside the training range: A 100 mm3 (training 800-1000); the scan may be unlike the training scans (contrast, field of view, brain mask): check it'
    """
    far = []
    for label, (low, _mean, high) in sorted(training.items()):
        volume = volumes.get(label)
        if volume is None or high <= 0:
            continue
        if volume < FAR_BELOW * low or volume > FAR_ABOVE * high:
            name = names.get(label, f"label {label}")
            far.append(f"{name} {volume:.0f} mm3 (training {low:.0f}-{high:.0f})")
    if not far:
        return None
    return (
        "structure volumes far outside the training range: "
        + ", ".join(far)
        + "; the scan may be unlike the training scans (contrast, field of view, brain mask): check it"
    )
