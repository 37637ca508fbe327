"""``livianet bids``: a BIDS App. T1w scans of a BIDS dataset in, a BIDS-derivatives dataset out.

``participant`` segments each selected T1w (:mod:`livianet.bids.participant`, through the batch
driver of ``livianet segment``); ``group`` gathers the cohort's volumes, failures and QC
(:mod:`livianet.bids.group`). The layout is read by the BIDS filename rules
(:mod:`livianet.bids.layout`, :mod:`livianet.bids.entities`); outputs are named by the
BIDS-derivatives rules (:mod:`livianet.bids.outputs`); docs/bids.md shows a real output tree.
"""

from livianet.bids.group import GroupSummary, run_group
from livianet.bids.layout import DatasetIndex, Selection, T1wScan, index_t1w, labels_option
from livianet.bids.participant import (
    BrainOptions,
    ParticipantRequest,
    ParticipantSummary,
    run_participant,
)

__all__ = [
    "BrainOptions",
    "DatasetIndex",
    "GroupSummary",
    "ParticipantRequest",
    "ParticipantSummary",
    "Selection",
    "T1wScan",
    "index_t1w",
    "labels_option",
    "run_group",
    "run_participant",
]
