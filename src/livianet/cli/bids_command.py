"""``livianet bids BIDS_DIR OUT_DIR participant|group``: the BIDS-App command.

The positionals and options follow the BIDS-Apps convention (fMRIPrep's spellings too:
``--participant_label``, ``--skip_bids_validation``). The parser builder imports only
argparse; the handler imports :mod:`livianet.bids`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
    from livianet.bids import Selection


def add_bids_parser(commands: Commands) -> None:
    bids = commands.add_parser(
        "bids",
        help="a BIDS App: segment every T1w of a BIDS dataset into a BIDS-derivatives dataset",
        description="`livianet bids BIDS_DIR OUT_DIR participant` segments every "
        "sub-*/[ses-*/]anat/*_T1w.nii[.gz] (or those selected) into the BIDS-derivatives "
        "dataset OUT_DIR (resumable; under torchrun each process takes its share); "
        "`livianet bids BIDS_DIR OUT_DIR group` then writes group/volumes.tsv, "
        "group/failures.tsv and group/report.html. See docs/bids.md.",
    )
    bids.add_argument("bids_dir", type=Path, help="the input BIDS dataset's root folder")
    bids.add_argument(
        "output_dir", type=Path, help="the derivatives dataset (e.g. BIDS_DIR/derivatives/livianet)"
    )
    bids.add_argument("analysis_level", choices=("participant", "group"))
    bids.add_argument(
        "--participant-label", "--participant_label", nargs="+", metavar="LABEL",
        help="only these subjects (01 or sub-01; default: all)",
    )  # fmt: skip
    bids.add_argument(
        "--session-label", "--session_label", nargs="+", metavar="LABEL",
        help="only these sessions (1 or ses-1; default: all)",
    )  # fmt: skip
    bids.add_argument(
        "--bids-filter-file", "--bids_filter_file", type=Path, metavar="FILE",
        help='JSON selecting T1w files by entity, as fMRIPrep reads it: {"t1w": {"acquisition": "mprage"}}',
    )  # fmt: skip
    bids.add_argument(
        "--mask-derivatives", type=Path, metavar="DIR",
        help="a derivatives dataset holding each T1w's *_desc-brain_mask.nii[.gz] (matched by "
        "sub, ses, acq, run); default: as `livianet segment` without --roi",
    )  # fmt: skip
    bids.add_argument(
        "--model", action="append", metavar="NAME|PATH",
        help="a built-in model (`livianet models`) or a checkpoint; repeat for an ensemble "
        "(default: the built-in model)",
    )  # fmt: skip
    _add_bids_brain(bids)
    _add_bids_options(bids)


def _add_bids_brain(bids: argparse.ArgumentParser) -> None:
    """Scans without a --mask-derivatives mask: brain extraction as in `livianet segment`."""
    bids.add_argument(
        "--no-brain-extraction", dest="brain_extraction", action="store_false",
        help="segment scans without a --mask-derivatives mask as they are (no brain "
        "extraction: intensities normalised over the nonzero voxels)",
    )  # fmt: skip
    bids.add_argument(
        "--brain-threshold", type=float, default=0.5, metavar="P",
        help="brain extraction: a voxel is brain where its probability is above P (default 0.5)",
    )  # fmt: skip
    bids.add_argument(
        "--brain-dilation", type=int, default=0, metavar="MM",
        help="brain extraction: grow (or, negative, shrink) the mask by MM 1 mm voxels (default 0)",
    )  # fmt: skip


def _add_bids_options(bids: argparse.ArgumentParser) -> None:
    bids.add_argument(
        "--work-dir", "-w", type=Path, metavar="DIR",
        help="where the batch writes before each scan's outputs are moved into OUT_DIR (a "
        "folder made inside it, removed afterwards; default: the system's temporary folder)",
    )  # fmt: skip
    bids.add_argument(
        "--skip-bids-validation", "--skip_bids_validation", action="store_true",
        help="do not run the BIDS validator (bids-validator-deno, when installed) on BIDS_DIR",
    )  # fmt: skip
    bids.add_argument(
        "--overwrite", action="store_true",
        help="segment again the scans whose outputs are already there and up to date",
    )  # fmt: skip
    bids.add_argument(
        "--probabilities", action="store_true",
        help="also write *_label-<structure>_probseg.nii.gz (float32)",
    )  # fmt: skip
    bids.add_argument(
        "--tta", action="store_true",
        help="test-time augmentation: average with the left-right mirrored scan",
    )  # fmt: skip
    bids.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "bf16", "fp16"),
        help="numeric precision (default auto: bf16 where faster)",
    )  # fmt: skip
    bids.add_argument(
        "--device", default="auto",
        help="auto, cpu, cuda or cuda:N (default: auto; under torchrun the GPU of LOCAL_RANK)",
    )  # fmt: skip
    bids.add_argument(
        "--nprocs", "--n_cpus", "--n-cpus", "--threads", dest="threads", type=int, default=None,
        metavar="N", help="CPU threads for PyTorch (default: PyTorch's choice)",
    )  # fmt: skip


def _selection(args: argparse.Namespace) -> Selection:
    from livianet.bids import Selection, labels_option
    from livianet.bids.filters import T1wFilter, read_filter_file

    return Selection(
        labels_option(args.participant_label, "sub-", "--participant-label"),
        labels_option(args.session_label, "ses-", "--session-label"),
        read_filter_file(args.bids_filter_file) if args.bids_filter_file else T1wFilter(),
    )


def run_bids(args: argparse.Namespace) -> int:
    if args.analysis_level == "group":
        return _group(args)
    from livianet.bids import BrainOptions, ParticipantRequest, run_participant
    from livianet.networks.pretrained import DEFAULT_MODEL
    from livianet.runtime import distributed

    request = ParticipantRequest(
        bids_dir=args.bids_dir, out_dir=args.output_dir,
        models=tuple(args.model or [DEFAULT_MODEL]), selection=_selection(args),
        mask_derivatives=args.mask_derivatives, work_dir=args.work_dir,
        brain=BrainOptions(args.brain_extraction, args.brain_threshold, args.brain_dilation),
        validate=not args.skip_bids_validation, overwrite=args.overwrite,
        probabilities=args.probabilities, tta=args.tta, device=args.device,
        precision=args.precision, command=command_line(args),
    )  # fmt: skip
    try:
        summary = run_participant(request)
    finally:
        distributed.shutdown()
    if not distributed.env_info().is_main:
        return 0
    print(
        f"{summary.scans} T1w scans: {summary.segmented} segmented now, {summary.kept} unchanged"
        f" since an earlier run, {len(summary.failures)} failed; outputs in {args.output_dir}"
    )
    return _failures(summary.failures, f"{args.output_dir}/logs/scans")


def command_line(args: argparse.Namespace) -> str:
    """The participant command as run, for the citation text: what bears on the results."""
    words = ["livianet", "bids", str(args.bids_dir), str(args.output_dir), args.analysis_level]
    for flag, values in (
        ("--participant-label", args.participant_label),
        ("--session-label", args.session_label),
        ("--bids-filter-file", [args.bids_filter_file] if args.bids_filter_file else None),
        ("--mask-derivatives", [args.mask_derivatives] if args.mask_derivatives else None),
    ):
        words += [flag, *map(str, values)] if values else []
    for model in args.model or []:
        words += ["--model", str(model)]
    words += [f for f, on in (("--probabilities", args.probabilities), ("--tta", args.tta)) if on]
    if not args.brain_extraction:
        words.append("--no-brain-extraction")
    for flag, value, default in (
        ("--brain-threshold", args.brain_threshold, 0.5),
        ("--brain-dilation", args.brain_dilation, 0),
    ):
        words += [flag, str(value)] if args.brain_extraction and value != default else []
    words += ["--precision", args.precision] if args.precision != "auto" else []
    return shlex.join(words)


def _group(args: argparse.Namespace) -> int:
    from livianet.bids import run_group

    summary = run_group(args.bids_dir, args.output_dir, _selection(args))
    print(
        f"{summary.scans} segmented T1w scans, {summary.flagged} flagged by QC, "
        f"{len(summary.failures)} failed: {summary.folder}/volumes.tsv, failures.tsv, report.html"
    )
    return _failures(summary.failures, f"{summary.folder}/failures.tsv")


def _failures(failures: tuple[tuple[str, str], ...], where: str) -> int:
    """The failures on stderr (exit status 1), or 0."""
    if not failures:
        return 0
    count = f"{len(failures)} scan{'s' if len(failures) > 1 else ''}"
    print(f"livianet: error: {count} failed (listed in {where}):", file=sys.stderr)
    for source, error in failures:
        print(f"  {source}: {error}", file=sys.stderr)
    return 1
