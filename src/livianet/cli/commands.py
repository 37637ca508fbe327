"""The subcommands behind ``livianet``: argument handling only, work lives in the modules."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from livianet.cli.bids_command import run_bids  # noqa: F401
from livianet.cli.cache_command import run_cache  # noqa: F401
from livianet.cli.synth_command import run_synth  # noqa: F401
from livianet.errors import ConfigError, DataError

if TYPE_CHECKING:
    from livianet.cli.segment_form import SegmentForm
    from livianet.data import CaseFiles
    from livianet.inference import SegmentOptions, SegmentReport
    from livianet.networks import Checkpoint

logger = logging.getLogger(__name__)


def _names(path: Path | None) -> dict[int, str] | None:
    if path is None:
        return None
    from livianet.io import load_label_names

    return load_label_names(path)


def _legacy_resume(args: argparse.Namespace) -> Path | None:
    """The original's ``CONFIG 0`` (new network) and ``CONFIG 1 MODEL`` (continue MODEL)."""
    if not args.legacy:
        return args.resume
    mode, *rest = args.legacy
    if mode == "0" and not rest:
        return args.resume
    if not rest:
        raise ConfigError(
            f"train {args.config} {mode}: expected a model file after {mode} (the original form is CONFIG 1 MODEL)"
        )
    if len(rest) > 1:
        raise ConfigError(f"train: unexpected arguments {rest[1:]}")
    if args.resume is not None:
        raise ConfigError("train: give the model either positionally or with --resume, not both")
    return Path(rest[0])


def _jobs(jobs: int) -> int:
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected a positive number of processes")
    return jobs


def run_train(args: argparse.Namespace) -> int:
    from livianet.config import load_training_config

    config = load_training_config(args.config, data_root=args.data_root, label_maps_only=True)
    resume = _legacy_resume(args)
    if args.dry_run:
        from livianet.cli.dryrun import dry_run

        text, problems = dry_run(config, args.cache, _jobs(args.jobs))
        print(text)
        return 1 if problems else 0
    from livianet.data.cases import folder_problems
    from livianet.training import TrainOptions, train

    if config.data.image_folders and (problems := folder_problems(config.data)):
        raise DataError("; ".join(problems))  # before the run starts: one line, nothing written
    options = TrainOptions(
        resume=resume,
        overwrite=args.overwrite,
        device=args.device,
        init_from=args.init_from,
        time_budget_s=args.minutes * 60 if args.minutes else None,
        label_names=_names(args.names),
        cache=args.cache,
        jobs=_jobs(args.jobs),
    )
    from livianet.runtime import distributed

    try:
        result = train(config, options)
    except BaseException:
        distributed.shutdown()
        raise
    distributed.shutdown(wait=True)
    if not distributed.env_info().is_main:
        return 0
    if result.last_checkpoint is not None:
        print(f"last checkpoint: {result.last_checkpoint}")
    if result.best_checkpoint is not None:
        print(f"best checkpoint: {result.best_checkpoint}")
    return 0


def _models(args: argparse.Namespace, leading: Sequence[Path]) -> list[Checkpoint]:
    """The checkpoints to run: positional ones, ``--model`` names or paths, else the built-in model."""
    from livianet.cli.segment_form import unknown_model
    from livianet.networks.pretrained import DEFAULT_MODEL, builtin_names, resolve_model

    if leading and args.model:
        raise ConfigError("segment: give the checkpoint either first or with --model, not both")
    names: Sequence[str | Path] = leading or args.model or [DEFAULT_MODEL]
    option, known = "--model" if args.model else "segment", builtin_names()
    for name in names:
        if problem := unknown_model(name, option, known):
            raise ConfigError(problem)
    return [resolve_model(name) for name in names]


@dataclass(frozen=True)
class _SegmentRun:
    """What one ``segment`` command segments, with what, and where (either form)."""

    checkpoints: list[Checkpoint]
    cases: list[CaseFiles]
    out: Path
    orientation: str | None  # axis codes of .mat inputs, as given


def run_segment(args: argparse.Namespace) -> int:
    from livianet.cli.segment_form import check_out_folder, segment_form
    from livianet.inference import segment_files
    from livianet.runtime import distributed

    if args.out is not None:
        check_out_folder(args.out)  # before any model loads: a file there, or a volume's name
    form = segment_form(args.first, list(args.rest))
    if form.config is not None:
        run = _ini_form(args, form.config, form.checkpoints)
    else:
        run = _file_form(args, form)
    options = _segment_options(args, run.orientation)
    try:
        report = segment_files(run.checkpoints, run.cases, run.out, options)
    finally:
        distributed.shutdown()
    if not distributed.env_info().is_main:
        return 1 if report.failures else 0
    return _print_segment_report(report, len(run.cases), run.out)


def _ini_form(args: argparse.Namespace, ini: Path, given: tuple[Path, ...]) -> _SegmentRun:
    """``segment SEG.ini CKPT``: the cases are the INI's ``indexesToSegment`` of its folders."""
    from livianet.config import load_segmentation_config
    from livianet.inference import jobs_from_config

    if len(given) > 1 or (given and args.model):
        raise ConfigError(
            f"segment {ini}: expected one checkpoint after the INI file (or --model), got {len(given)} paths"
        )
    if args.roi or args.gt:
        raise ConfigError(
            "segment: --roi and --gt are for the file form; the INI form reads ROIFolder and GroundTruthFolder"
        )
    config = load_segmentation_config(ini, data_root=args.data_root)
    checkpoints = _models(args, given)
    return _SegmentRun(
        checkpoints,
        jobs_from_config(config),
        args.out or _ini_output_folder(checkpoints[0], args.output_root),
        args.orientation or config.data.orientation,
    )


def _file_form(args: argparse.Namespace, form: SegmentForm) -> _SegmentRun:
    """``segment [CKPT...] IMAGE... --out DIR``: leading checkpoints (an ensemble), then the images.

    Without positional checkpoints, ``--model`` or the built-in model runs.
    """
    from livianet.cli.segment_form import check_inputs_exist
    from livianet.inference import jobs_from_files

    if args.out is None:
        raise ConfigError("segment [CKPT...] IMAGE...: --out DIR is required")
    if not form.images:
        raise ConfigError("segment CKPT IMAGE...: no image given after the checkpoint(s)")
    check_inputs_exist(form.images, args.roi or [], args.gt or [])
    checkpoints = _models(args, form.checkpoints)
    cases = jobs_from_files(
        list(form.images), args.roi, args.gt, checkpoints[0].model_config.in_channels
    )
    return _SegmentRun(checkpoints, cases, args.out, args.orientation)


def _segment_options(args: argparse.Namespace, orientation: str | None) -> SegmentOptions:
    """The options of ``segment_files``, after checking the numbers; ``orientation`` as given."""
    from livianet.inference import SegmentOptions

    if args.tile is not None and args.tile < 1:
        raise ConfigError(f"--tile {args.tile}: expected a positive number of voxels")
    if args.batch < 1:
        raise ConfigError(f"--batch {args.batch}: expected a positive number of tiles")
    codes = _orientation_option(orientation)
    return SegmentOptions(
        device=args.device,
        precision=args.precision,
        tile=args.tile,
        batch_size=args.batch,
        probabilities=args.probabilities,
        largest_component=None
        if args.largest_component is None
        else args.largest_component == "on",
        names=_names(args.names),
        snapshot=args.snapshot,
        resample=args.resample,
        orientation=codes,
        tta=args.tta,
        force=args.force,
        skip_existing=args.skip_existing,
        report=not args.no_report,
        original_labels=args.original_labels,
        brain_extraction=args.brain_extraction,
        brain_threshold=args.brain_threshold,
        brain_dilation=args.brain_dilation,
        save_brain=args.save_brain,
        command=shlex.join(["livianet", *getattr(args, "argv", [])]),
    )


def _print_segment_report(report: SegmentReport, scans: int, out: Path) -> int:
    """The metrics table, where the outputs are, and the failures (exit code 1) on stderr."""
    if report.metric_rows:
        from livianet.evaluation import format_metrics_table

        print(format_metrics_table(report.metric_rows))
    print(f"outputs in {out}")
    if not report.failures:
        return 0
    first, *others = (failure["error"] for failure in report.failures)
    if others or scans > 1:
        first = (
            f"{len(report.failures)} of {scans} scans failed (listed in "
            f"{out / 'failures.csv'}): {first}"
        )
    print(f"livianet: error: {first}", file=sys.stderr)
    for other in others:
        print(f"  {other}", file=sys.stderr)
    return 1


def _ini_output_folder(checkpoint: Checkpoint, output_root: Path) -> Path:
    """``<output root>/<folderName>/Pred/Testing``, folderName from the checkpoint's config."""
    contents = checkpoint.contents
    folder = contents.config.get("folder_name") or contents.network_name or "livianet"
    return output_root / folder / "Pred" / "Testing"


def run_evaluate(args: argparse.Namespace) -> int:
    from livianet.evaluation import (
        evaluate_files,
        format_metrics_table,
        pair_files,
        write_metrics_csv,
    )

    rows = evaluate_files(pair_files(args.pred, args.gt), names=_names(args.names))
    print(format_metrics_table(rows))
    if args.csv:
        write_metrics_csv(rows, args.csv)
        print(f"table written to {args.csv}")
    return 0


def _format(args: argparse.Namespace) -> str | None:
    code = {"0": "nifti", "1": "mat"}.get(args.format_code) if args.format_code else None
    if code and args.format and code != args.format:
        raise ConfigError(
            f"format code {args.format_code} ({code}) contradicts --format {args.format}"
        )
    return args.format or code


def run_labels(args: argparse.Namespace) -> int:
    from livianet.data import process_label_folder

    mapping = process_label_folder(args.in_dir, args.out_dir, args.num_classes, _format(args))
    print(f"{len(mapping)} label values mapped: {mapping}; written to {args.out_dir}")
    return 0


def run_roi(args: argparse.Namespace) -> int:
    if args.brain:
        return _brain_rois(args)
    from livianet.data import process_roi_folder

    written = process_roi_folder(
        args.in_dir, args.out_dir, args.threshold, args.fill_holes, args.largest, _format(args)
    )
    print(f"{len(written)} ROI masks written to {args.out_dir}")
    return 0


def _brain_rois(args: argparse.Namespace) -> int:
    """``roi --brain``: ROI masks by brain extraction; scans without a brain listed (exit 1)."""
    from livianet.inference.brain import BrainSettings
    from livianet.inference.brain_folder import brain_roi_folder

    if args.threshold or args.fill_holes or args.largest:
        raise ConfigError(
            "roi --brain: --threshold, --fill-holes and --largest are for image > threshold"
        )
    settings = BrainSettings(args.brain_threshold, args.brain_dilation)
    done = brain_roi_folder(
        args.in_dir, args.out_dir, settings, fmt=_format(args),
        orientation=_brain_orientation(args.orientation), device=args.device,
    )  # fmt: skip
    print(f"{len(done.written)} ROI masks (brain extraction) written to {args.out_dir}")
    if not done.failures:
        return 0
    print(
        f"livianet: error: {len(done.failures)} of {len(done.written) + len(done.failures)} "
        f"images got no ROI: {done.failures[0][1]}",
        file=sys.stderr,
    )
    for _, message in done.failures[1:]:
        print(f"  {message}", file=sys.stderr)
    return 1


def run_export(args: argparse.Namespace) -> int:
    from livianet.networks import export_model

    path = export_model(args.checkpoint, args.output)
    print(f"exported to {path}")
    return 0


def run_export_weights(args: argparse.Namespace) -> int:
    from livianet.networks import export_npy_weights, load_checkpoint, model_from_checkpoint

    model = model_from_checkpoint(load_checkpoint(args.checkpoint), args.checkpoint)
    written = export_npy_weights(model, args.out_dir)
    print(f"{len(written)} layer files written to {args.out_dir}")
    return 0


def _brain_orientation(codes: str | None) -> str | None:
    """Brain extraction needs the real axis codes of a ``.mat``: no ``as-stored``."""
    from livianet.data.orientation import parse_orientation

    return None if codes is None else parse_orientation(codes, "--orientation")


def _orientation_option(codes: str | None) -> str | None:
    from livianet.inference.inputs import parse_declared_orientation

    return parse_declared_orientation(codes, "--orientation")


def run_models(args: argparse.Namespace) -> int:
    from livianet.networks.pretrained import DEFAULT_MODEL, builtin_names, model_card

    names = [args.name] if args.name else builtin_names()
    if not names:
        raise DataError("this installation ships no built-in model; reinstall livianet")
    for name in names:
        card = model_card(name)
        default = " (default)" if name == DEFAULT_MODEL else ""
        print(f"{name}{default}: {card.get('summary', '')}")
        if args.name or len(names) == 1:
            print(card.get("card", ""))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from livianet.reporting import report_kind, write_report

    if report_kind(args.folder) == "segmentation":  # judged on the label maps as they are now
        from livianet.inference.refresh import refreshed_manifest
        from livianet.reporting import write_segmentation_report
        from livianet.reporting.segmentation_report import read_manifest

        folder = Path(args.folder)
        path = write_segmentation_report(folder, refreshed_manifest(folder, read_manifest(folder)))
    else:
        path = write_report(args.folder)
    print(f"report written to {path}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from livianet.demo import DemoOptions
    from livianet.demo import run_demo as demo

    if args.minutes <= 0:
        raise ConfigError(f"--minutes {args.minutes}: expected a positive time budget")
    if args.data is not None and not args.data.is_dir():
        raise DataError(
            f"{args.data}: data folder not found (expected MR/, Label/ and ROI/ inside)"
        )
    summary = demo(
        DemoOptions(
            out=args.out,
            data=args.data,
            minutes=args.minutes,
            preset=args.preset,
            quick=args.quick,
            device=args.device,
            orientation=_orientation_option(args.orientation),
            init_from=args.init_from,
        )
    )
    sys.stdout.write(summary + "\n")
    return 0
