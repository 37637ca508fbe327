"""The ``livianet`` argument parser: one small builder per subcommand.

Only argparse and pathlib are imported here, so that ``livianet --help`` answers
at once; each command's handler in :mod:`livianet.cli.commands` imports its stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from livianet.cli.bids_command import add_bids_parser
from livianet.cli.cache_command import add_cache_parser
from livianet.cli.synth_command import add_synth_parser
from livianet.version import __version__

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

FORMAT_CODE_HELP = "the original's format code: 0 NIfTI, 1 MATLAB"
# The forms of ``segment``, the built-in model's first: what most people run.
SEGMENT_USAGE = """%(prog)s T1 [T1 ...] --out DIR [--roi MASK]
       %(prog)s CKPT [CKPT ...] IMAGE [IMAGE ...] --out DIR
       %(prog)s SEG.ini CKPT
       (the options: %(prog)s --help)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livianet",
        description="LiviaNET 3-D CNNs for brain-structure segmentation in MRI: train, segment, evaluate, report.",
    )
    parser.add_argument("--version", action="version", version=f"livianet {__version__}")
    _add_logging(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (
        _train_parser,
        _segment_parser,
        _evaluate_parser,
        _labels_parser,
        _roi_parser,
        _models_parser,
        _export_parser,
        _export_weights_parser,
        _report_parser,
        _demo_parser,
        add_synth_parser,
        add_bids_parser,
        add_cache_parser,
    ):
        add_command(commands)
    for command in commands.choices.values():
        _add_logging(command, default=argparse.SUPPRESS)
    return parser


def _add_logging(parser: argparse.ArgumentParser, default: object) -> None:
    """``-v``/``-q``, before the command or after it.

    A subcommand's copy defaults to ``SUPPRESS``: it sets them only when given, so it
    never undoes what was given before the command.
    """
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="warnings and errors only"
    )


# --- options shared by several commands ------------------------------------------------------


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda or cuda:N (default: auto; auto and cuda take the GPU of LOCAL_RANK; no cuda:N under torchrun)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for PyTorch (default: PyTorch's choice)",
    )


def _add_init_from(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--init-from``: a checkpoint path or a built-in model's name, kept as the text given.

    ``livianet.networks.pretrained.resolve_model`` tells the two apart, so train and
    demo pass the same string on (``TrainOptions.init_from``, ``DemoOptions.init_from``).
    """
    parser.add_argument("--init-from", type=str, metavar="CKPT|builtin", help=help_text)


def _add_format_code(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format_code", nargs="?", choices=("0", "1"), help=FORMAT_CODE_HELP)


def _add_output_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", choices=("nifti", "mat"), help="output format (default: as the input)"
    )


# --- one builder per command ----------------------------------------------------------------


def _train_parser(commands: Commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a network from an INI config",
        description="Train a network from an INI config (the original LiviaNET files load unchanged).",
    )
    train.add_argument("config", type=Path, help="training INI file")
    train.add_argument(
        "legacy",
        nargs="*",
        help="the original's positional form: 0 (new network) or 1 MODEL (continue MODEL)",
    )
    train.add_argument("--resume", type=Path, metavar="CKPT", help="continue from this checkpoint")
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="start from scratch even if this run already has checkpoints",
    )
    train.add_argument(
        "--dry-run", action="store_true", help="print settings, data pairing and network, then exit"
    )
    train.add_argument(
        "--data-root",
        type=Path,
        metavar="DIR",
        help="look up each data folder (MR, Label, ROI) by its last name under DIR",
    )
    _add_init_from(
        train,
        "initialise matching layers from a livianet checkpoint, or from the built-in model "
        "(`builtin`, or a name that `livianet models` lists): fine-tuning",
    )
    train.add_argument(
        "--names", type=Path, metavar="FILE", help="label names (JSON or TSV) stored with the model"
    )
    train.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop after the epoch that reaches this training time",
    )
    train.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="the folder of preprocessed cases (default: the config's cacheFolder, else cache/ in "
        "the run folder); runs that share one preprocess each case once",
    )
    train.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes that preprocess cases into the cache (default 1)",
    )
    _add_runtime(train)


def _segment_parser(commands: Commands) -> None:
    segment = commands.add_parser(
        "segment",
        usage=SEGMENT_USAGE,
        help="segment scans with a trained checkpoint",
        description="Segment scans in any orientation and voxel size: `livianet segment T1.nii.gz "
        "--out DIR` (the built-in model), `livianet segment CKPT [CKPT...] IMAGE... --out DIR` "
        "(several checkpoints: an ensemble) or `livianet segment SEG.ini CKPT` (the original "
        "form). Images may be files (NIfTI, MGZ, .mat), folders or glob patterns.",
    )
    _add_segment_inputs(segment)
    _add_segment_brain(segment)
    _add_segment_outputs(segment)
    _add_segment_geometry(segment)
    _add_segment_runtime(segment)


def _add_segment_brain(segment: argparse.ArgumentParser) -> None:
    """Brain extraction for scans without ``--roi`` (deepbet; livianet.inference.brain)."""
    segment.add_argument(
        "--no-brain-extraction",
        dest="brain_extraction",
        action="store_false",
        help="segment scans given without --roi as they are (no brain extraction: intensities "
        "normalised over the nonzero voxels)",
    )
    segment.add_argument(
        "--brain-threshold",
        type=float,
        default=0.5,
        metavar="P",
        help="brain extraction: a voxel is brain where its probability is above P (default 0.5)",
    )
    segment.add_argument(
        "--brain-dilation",
        type=int,
        default=0,
        metavar="MM",
        help="brain extraction: grow (or, negative, shrink) the mask by MM 1 mm voxels (default 0)",
    )
    segment.add_argument(
        "--save-brain",
        action="store_true",
        help="also write SkullStripped_<name>, the T1 with everything outside the extracted "
        "brain mask set to 0",
    )


def _add_segment_inputs(segment: argparse.ArgumentParser) -> None:
    """What to segment with what: the positionals (see :mod:`livianet.cli.segment_form`)."""
    segment.add_argument(
        "first",
        type=Path,
        metavar="T1",
        help="the first image, a checkpoint, or a segmentation INI",
    )
    segment.add_argument(
        "rest",
        nargs="*",
        type=Path,
        default=[],  # not a required argument: `livianet segment` alone asks for T1 only
        metavar="MORE",
        help="the checkpoint (INI form), or more checkpoints then images, folders or patterns",
    )
    segment.add_argument(
        "--model",
        action="append",
        metavar="NAME|PATH",
        help="a built-in model (`livianet models`) or a checkpoint; repeat for an ensemble "
        "(default: the built-in model, when no checkpoint is given first)",
    )
    segment.add_argument(
        "--out",
        type=Path,
        help="output folder (INI form default: <output root>/<folderName>/Pred/Testing)",
    )
    segment.add_argument("--roi", type=Path, nargs="+", help="ROI masks, one per image")
    segment.add_argument(
        "--gt", type=Path, nargs="+", help="reference label maps, one per image: adds metrics.csv"
    )
    segment.add_argument(
        "--data-root", type=Path, metavar="DIR", help="INI form: look up data folders under DIR"
    )
    segment.add_argument(
        "--output-root",
        type=Path,
        default=Path("outputFiles"),
        help="INI form: output root (default ./outputFiles)",
    )


def _add_segment_outputs(segment: argparse.ArgumentParser) -> None:
    segment.add_argument(
        "--probabilities", action="store_true", help="also write ProbMap_class_<c>_ files (float32)"
    )
    segment.add_argument(
        "--largest-component",
        choices=("on", "off"),
        help="keep each class's largest component (default: as trained)",
    )
    segment.add_argument(
        "--names", type=Path, metavar="FILE", help="label names (JSON or TSV) for the tables"
    )
    segment.add_argument("--snapshot", action="store_true", help="write a QA picture per image")


def _add_segment_geometry(segment: argparse.ArgumentParser) -> None:
    segment.add_argument(
        "--resample",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="resample scans whose voxel size differs from the model's, in world space "
        "(default: on; --no-resample keeps the scan's voxels)",
    )
    segment.add_argument(
        "--orientation",
        metavar="CODES",
        help="axis codes of .mat inputs, which store no affine (e.g. ILA), or 'as-stored' to "
        "take the array as stored in the model's grid (the original's behaviour); default: as "
        "the model's training arrays were declared, else a .mat is refused",
    )
    segment.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average with the left-right mirrored scan",
    )
    segment.add_argument(
        "--force",
        action="store_true",
        help="segment scans whose voxels are more than 3x the model's",
    )
    segment.add_argument(
        "--original-labels",
        action="store_true",
        help="write the labels' original codes (before `livianet labels` made them consecutive)",
    )
    segment.add_argument(
        "--no-report",
        action="store_true",
        help="skip report.html, qc.csv and the per-scan mosaics",
    )
    segment.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep outputs a previous run wrote (resumable batches)",
    )


def _add_segment_runtime(segment: argparse.ArgumentParser) -> None:
    segment.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bf16", "fp16"),
        help="numeric precision (default auto: bf16 where faster)",
    )
    segment.add_argument(
        "--tile",
        type=int,
        default=None,
        help="output tile side in voxels (default: sized for speed and memory)",
    )
    segment.add_argument("--batch", type=int, default=1, help="tiles per forward pass")
    _add_runtime(segment)


def _evaluate_parser(commands: Commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="Dice, Jaccard, HD95, ASSD and volumes of predictions against references"
    )
    evaluate.add_argument("pred", type=Path, help="predicted label map, or a folder of them")
    evaluate.add_argument(
        "gt", type=Path, help="reference label map, or a folder (paired by file name)"
    )
    evaluate.add_argument("--names", type=Path, metavar="FILE", help="label names (JSON or TSV)")
    evaluate.add_argument("--csv", type=Path, metavar="FILE", help="write the table as CSV")


def _labels_parser(commands: Commands) -> None:
    labels = commands.add_parser(
        "labels", help="make label values consecutive across a folder (processLabels)"
    )
    labels.add_argument("in_dir", type=Path)
    labels.add_argument("out_dir", type=Path)
    labels.add_argument("num_classes", type=int, help="number of classes including background")
    _add_format_code(labels)
    _add_output_format(labels)


def _roi_parser(commands: Commands) -> None:
    roi = commands.add_parser("roi", help="build ROI masks from images (generateROI)")
    roi.add_argument("in_dir", type=Path)
    roi.add_argument("out_dir", type=Path)
    _add_format_code(roi)
    roi.add_argument(
        "--threshold", type=float, default=0.0, help="mask = image > threshold (default 0)"
    )
    roi.add_argument("--fill-holes", action="store_true", help="fill holes inside the mask")
    roi.add_argument(
        "--largest", action="store_true", help="keep only the largest connected component"
    )
    roi.add_argument(
        "--brain",
        action="store_true",
        help="brain masks by brain extraction (deepbet) of whole-head T1s instead of "
        "image > threshold",
    )
    roi.add_argument(
        "--brain-threshold",
        type=float,
        default=0.5,
        metavar="P",
        help="with --brain: brain where deepbet's probability is above P (default 0.5)",
    )
    roi.add_argument(
        "--brain-dilation",
        type=int,
        default=0,
        metavar="MM",
        help="with --brain: grow (or, negative, shrink) the masks by MM voxels (default 0)",
    )
    roi.add_argument(
        "--orientation",
        metavar="CODES",
        help="with --brain: axis codes of .mat images, which store no affine (e.g. ILA)",
    )
    _add_output_format(roi)
    _add_runtime(roi)


def _models_parser(commands: Commands) -> None:
    models = commands.add_parser(
        "models", help="the built-in models and their cards (training data, licence, accuracy)"
    )
    models.add_argument("name", nargs="?", help="one model's full card (default: the list)")


def _export_parser(commands: Commands) -> None:
    export = commands.add_parser(
        "export", help="export a checkpoint to ONNX (.onnx) or torch.export (.pt2)"
    )
    export.add_argument("checkpoint", type=Path)
    export.add_argument("output", type=Path, help="OUT.onnx or OUT.pt2")


def _export_weights_parser(commands: Commands) -> None:
    weights = commands.add_parser(
        "export-weights", help="write per-layer .npy weights (the original's format)"
    )
    weights.add_argument("checkpoint", type=Path)
    weights.add_argument("out_dir", type=Path)


def _report_parser(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="rebuild the HTML report of a training run or a segmentation output folder",
        description="Rebuild report.html from a folder's files: a training run folder (holding"
        " Networks/) or a segmentation output folder (holding segmentation.json, which also"
        " gets qc.csv).",
    )
    report.add_argument(
        "folder", type=Path, help="training run folder or segmentation output folder"
    )


def _demo_parser(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo", help="train, segment and report on an example dataset, end to end"
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("livianet-demo"),
        help="output folder (default ./livianet-demo)",
    )
    demo.add_argument(
        "--data",
        type=Path,
        help="a folder in the original layout (MR/ Label/ ROI/); default: built-in example",
    )
    demo.add_argument(
        "--minutes", type=float, default=5.0, help="training time budget in minutes (default 5)"
    )
    demo.add_argument(
        "--preset",
        default=None,
        help="network preset (default: fast; `paper` for the NeuroImage network)",
    )
    demo.add_argument(
        "--orientation",
        metavar="CODES",
        help="axis codes of the .mat scans in --data (which store no affine), e.g. ILA for the "
        "original LiviaNET example; NIfTI and MGZ scans carry their own",
    )
    _add_init_from(
        demo,
        "fine-tune from a checkpoint or the built-in model (`builtin`) instead of training "
        "from scratch, within the same --minutes",
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a tiny run that checks the whole pipeline in about a minute",
    )
    _add_runtime(demo)
