"""The derivatives dataset as a whole: where it may be, who wrote it, and its dataset-level files.

OUT_DIR is a BIDS-derivatives dataset of one model's segmentations: ``dataset_description.json``
(``DatasetType`` derivative, ``GeneratedBy`` livianet with its version and the model,
``SourceDatasets``), ``dseg.tsv`` (index, name, abbreviation, colour of every label),
``README.md``, ``logs/CITATION.md`` (what was run and what to cite) and ``.bidsignore`` (what BIDS
does not define: the group folder, reports, figures, logs and volume tables).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.atomic import write_text_atomic
from livianet.bids.entities import entity_label
from livianet.bids.files import file_sha256, read_json, write_json, write_tsv
from livianet.bids.layout import DESCRIPTION
from livianet.bids.outputs import FIGURES, GROUP, LOGS
from livianet.errors import DataError
from livianet.io import label_name
from livianet.version import __version__

if TYPE_CHECKING:
    from livianet.networks import Checkpoint

GENERATOR = "livianet"
BIDS_VERSION = "1.10.0"
# What BIDS does not define. Without a trailing slash: the validator does not match "group/".
BIDSIGNORE = (GROUP, LOGS, FIGURES, "*.html", "*_volumes.tsv")
PAPER = (
    "Dolz J, Desrosiers C, Ben Ayed I. 3D fully convolutional networks for subcortical "
    "segmentation in MRI: a large-scale study. NeuroImage 170:456-470, 2018. "
    "doi:10.1016/j.neuroimage.2017.04.039"
)


@dataclass(frozen=True)
class Label:
    index: int
    name: str
    abbreviation: str  # letters and digits: the ``label-`` entity of its probseg file
    color: str


@dataclass(frozen=True)
class ModelIdentity:
    """The model a run segments with: its members' names and digests, terms and labels."""

    names: tuple[str, ...]
    sha256: tuple[str, ...]
    licence: str | None
    labels: tuple[Label, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, checkpoints: Sequence[Checkpoint]) -> ModelIdentity:
        first = checkpoints[0]
        names = tuple(c.contents.model_name or Path(c.path).name for c in checkpoints)
        digests = tuple(file_sha256(Path(c.path)) for c in checkpoints)
        meta_names = first.meta.label_names or None
        return cls(
            names,
            digests,
            first.contents.licence,
            label_table(meta_names, first.model_config.num_classes),
        )

    @property
    def name(self) -> str:
        return " + ".join(self.names)

    def as_dict(self) -> dict[str, Any]:
        return {"Name": self.name, "SHA256": list(self.sha256), "Licence": self.licence}


def label_table(names: Mapping[int, str] | None, num_classes: int) -> tuple[Label, ...]:
    """Every label with its name, a unique letters-and-digits abbreviation and its colour.

    >>> [l.abbreviation for l in label_table({1: "Left-Thalamus", 2: "Left Thalamus"}, 4)]
    ['Background', 'LeftThalamus', 'label2', 'label3']
    """
    from livianet.reporting import label_colours

    colours = label_colours(num_classes)
    table, used = [], set()
    for k in range(num_classes):
        name = "Background" if k == 0 and not (names and 0 in names) else label_name(names, k)
        abbreviation = entity_label(name)
        if not abbreviation or abbreviation in used:
            abbreviation = f"label{k}"
        used.add(abbreviation)
        rgb = "".join(f"{round(255 * c):02x}" for c in colours[k])
        table.append(Label(k, name, abbreviation, f"#{rgb}"))
    return tuple(table)


def check_output_dir(bids_dir: Path, out_dir: Path) -> dict[str, Any] | None:
    """OUT_DIR's description if livianet wrote it, None if it is new or empty; else an error.

    OUT_DIR may lie outside the input dataset or under its ``derivatives/`` folder; a folder
    another tool wrote, or one holding other files, is never written into.
    """
    source, out = bids_dir.resolve(), out_dir.resolve()
    if out == source or (source in out.parents and (source / "derivatives") not in out.parents):
        raise DataError(
            f"OUT_DIR {out_dir}: inside the input dataset {bids_dir}; expected a folder outside "
            f"it or under {bids_dir / 'derivatives'} (such as derivatives/livianet)"
        )
    if out in source.parents:
        raise DataError(
            f"OUT_DIR {out_dir}: holds the input dataset {bids_dir}; expected another folder"
        )
    if not out.is_dir() or not any(not p.name.startswith(".") for p in out.iterdir()):
        return None
    return read_livianet_description(out_dir)


def read_livianet_description(out_dir: Path) -> dict[str, Any]:
    """The description of a derivatives dataset livianet wrote; a one-line error for any other."""
    description = read_json(out_dir / DESCRIPTION)
    if not isinstance(description, dict):
        raise DataError(
            f"OUT_DIR {out_dir}: holds files but no readable {DESCRIPTION}; expected an empty "
            "folder or a derivatives dataset livianet wrote"
        )
    tool = generator(description).get("Name")
    if tool != GENERATOR:
        raise DataError(
            f"OUT_DIR {out_dir}: a derivatives dataset written by {tool or 'an unnamed tool'}, not "
            "livianet; expected an empty folder or one livianet wrote"
        )
    return description


def check_same_model(out_dir: Path, description: Mapping[str, Any], model: ModelIdentity) -> None:
    """One derivatives dataset holds one model's segmentations."""
    before = generator(description).get("Model") or {}
    if before.get("SHA256") and list(before["SHA256"]) != list(model.sha256):
        raise DataError(
            f"OUT_DIR {out_dir}: holds segmentations by the model {before.get('Name')}, not "
            f"{model.name} (their files differ); one derivatives dataset holds one model's: "
            "choose another OUT_DIR"
        )


def generator(description: Mapping[str, Any]) -> dict[str, Any]:
    """The first ``GeneratedBy`` entry of a description ({} when there is none)."""
    entries = description.get("GeneratedBy")
    first = entries[0] if isinstance(entries, list) and entries else None
    return first if isinstance(first, dict) else {}


@dataclass(frozen=True)
class RunFacts:
    """What the dataset-level files say about how the scans were segmented."""

    bids_dir: Path
    source_description: Mapping[str, Any]
    model: ModelIdentity
    masks: str  # where the brain masks came from, in words
    command: str
    mask_root: Path | None = None  # --mask-derivatives, linked as "masks" in the sidecars
    extractor: str | None = None  # what to cite for brain masks extracted, when some may be


def write_dataset_files(out_dir: Path, facts: RunFacts) -> None:
    """``dataset_description.json``, ``dseg.tsv``, ``README.md``, citation and ``.bidsignore``."""
    before = read_json(out_dir / DESCRIPTION)
    links = before.get("DatasetLinks") if isinstance(before, dict) else None
    write_json(out_dir / DESCRIPTION, description(out_dir, facts, links))
    write_tsv(
        [vars(label) for label in facts.model.labels],
        out_dir / "dseg.tsv",
        ["index", "name", "abbreviation", "color"],
    )
    write_text_atomic(out_dir / ".bidsignore", "\n".join(BIDSIGNORE) + "\n")
    write_text_atomic(out_dir / "README.md", readme(facts))
    write_text_atomic(out_dir / LOGS / "CITATION.md", citation(facts))


def description(
    out_dir: Path, facts: RunFacts, links: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The dataset's description; ``links``: an earlier one's, kept for the sidecars naming them."""
    source = facts.source_description
    dataset_links = {**(links or {}), "raw": source_link(facts.bids_dir, out_dir, facts.bids_dir)}
    if facts.mask_root is not None:
        dataset_links["masks"] = source_link(facts.mask_root, out_dir, facts.bids_dir)
    dataset: dict[str, Any] = {"URL": "bids:raw:"}
    for key, target in (("DatasetDOI", "DOI"), ("DatasetVersion", "Version")):
        if isinstance(source.get(key), str):
            dataset[target] = source[key]
    return {
        "Name": f"livianet segmentations of {source.get('Name') or facts.bids_dir.name}",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": GENERATOR,
                "Version": __version__,
                "Description": "subcortical structures segmented in each T1w scan by a LiviaNET "
                f"3-D CNN (the model {facts.model.name}); brain masks: {facts.masks}",
                "Model": facts.model.as_dict(),
            }
        ],
        "SourceDatasets": [dataset],
        "DatasetLinks": dataset_links,
        "HowToAcknowledge": f"Cite LiviaNET ({PAPER}) and what the model's terms name; "
        "logs/CITATION.md says what was run.",
    }


def source_link(dataset: Path, out_dir: Path, bids_dir: Path) -> str:
    """Another dataset seen from OUT_DIR: a relative path when both lie in the input dataset
    (they move together: ``../..``, ``../masks``), else a file URI."""
    target, out, source = dataset.resolve(), out_dir.resolve(), bids_dir.resolve()
    if source in out.parents and (target == source or source in target.parents):
        return os.path.relpath(target, out)
    return target.as_uri()


def readme(facts: RunFacts) -> str:
    labels = ", ".join(label.name for label in facts.model.labels[1:])
    return (
        "# livianet segmentations\n\n"
        f"Segmentations of {labels} in every T1w scan of `{facts.bids_dir}`, made by livianet "
        f"{__version__} with the model {facts.model.name}.\n\n"
        "Each `sub-*/[ses-*/]anat/` folder holds, per T1w scan, `*_space-orig_dseg.nii.gz` (the "
        "label map on the scan's own grid; `dseg.tsv` names the labels), "
        "`*_space-orig_desc-brain_mask.nii.gz` (the brain mask used, when there was one), "
        "`*_space-orig_volumes.tsv` (each structure's volume in mm3) and a JSON sidecar beside "
        "every image. `sub-<label>.html` is each subject's report; `group/` holds the cohort's "
        "tables and report (`livianet bids BIDS_DIR OUT_DIR group`). See logs/CITATION.md for "
        "what to cite.\n"
    )


def citation(facts: RunFacts) -> str:
    labels = ", ".join(label.name for label in facts.model.labels[1:])
    terms = facts.model.licence or "as its authors state"
    return (
        "# What was run, and what to cite\n\n"
        f"The structures {labels} were segmented in T1-weighted MRI scans with livianet "
        f"{__version__}, a PyTorch re-creation of LiviaNET, a 3-D fully convolutional network "
        f"[1], using the model {facts.model.name} (sha256 {', '.join(facts.model.sha256)}). "
        f"Brain masks: {facts.masks}. Each label map lies on its scan's own grid; volumes are "
        "voxel counts times the voxel volume.\n\n"
        f"Command: `{facts.command}`\n\n"
        f"The model's terms: {terms}.\n\n"
        f"[1] {PAPER}\n"
        + (f"\nScans without a given mask: {facts.extractor}.\n" if facts.extractor else "")
    )
