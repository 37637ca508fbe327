"""``livianet train CONFIG --dry-run``: what a run would do, without doing it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from livianet.config import DataConfig, TrainingConfig
from livianet.data import all_cases, folder_problems, index_problem

if TYPE_CHECKING:
    from livianet.cache import CachePlan, PlannedEntry


def network_lines(config: TrainingConfig) -> list[str]:
    from livianet.networks import LiviaNet, count_parameters

    model_cfg, train = config.model, config.train
    model = LiviaNet(model_cfg)
    lines = ["Network:"]
    channels = model_cfg.in_channels
    size: tuple[int, ...] = train.patch_size
    for i, (out, kernel) in enumerate(
        zip(model_cfg.conv_channels, model_cfg.conv_kernels, strict=True), start=1
    ):
        size = tuple(s - k + 1 for s, k in zip(size, kernel, strict=True))
        keep = "  (kept for multi-scale)" if i - 1 in model_cfg.intermediate_layers else ""
        lines.append(
            f"  conv{i:<3} {channels:>4} -> {out:<4} kernel {'x'.join(map(str, kernel)):<7} output {_size(size)}{keep}"
        )
        channels = out
    channels = model_cfg.fc_in_channels
    for j, out in enumerate(model_cfg.fc_channels, start=1):
        lines.append(
            f"  fc{j:<5} {channels:>4} -> {out:<4} 1x1x1   dropout {model_cfg.dropout_rates[j - 1]:g}"
        )
        channels = out
    lines.append(
        f"  classifier {channels:>1} -> {model_cfg.num_classes} 1x1x1 dropout {model_cfg.dropout_rates[-1]:g}, softmax"
    )
    parts = [f"{model_cfg.conv_channels[-1]} (conv{len(model_cfg.conv_channels)})"]
    parts += [
        f"{model_cfg.conv_channels[i]} (conv{i + 1}, centre-cropped)"
        for i in model_cfg.intermediate_layers
    ]
    lines += [
        f"  activation {model_cfg.activation}, batch norm {'on' if model_cfg.batch_norm else 'off'}, init conv {model_cfg.conv_init} / fc {model_cfg.fc_init}",
        f"  receptive field: {_size(model_cfg.receptive_field)}",
        f"  training patches: {_size(train.patch_size)} -> {_size(model_cfg.output_size(train.patch_size))}",
        f"  segmentation patches (sampleSize_Test): {_size(train.segment_patch_size)} -> {_size(model_cfg.output_size(train.segment_patch_size))}",
        f"  channels into the first 1x1x1 layer: {model_cfg.fc_in_channels} = " + " + ".join(parts),
        f"  parameters: {count_parameters(model):,}",
    ]
    return lines


def _size(size: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in size) if len(set(size)) > 1 else f"{size[0]}^3"


def settings_lines(config: TrainingConfig) -> list[str]:
    t, o = config.train, config.train.optim
    return [
        f"Config: {config.source}",
        "Settings:",
        f"  network {config.network_name!r}, run folder {config.run_dir}",
        f"  {t.num_epochs} epochs x {t.num_subepochs} sub-epochs x {t.samples_per_subepoch} samples, batch {t.batch_size}"
        f" ({t.samples_per_subepoch // t.batch_size} steps per sub-epoch)",
        f"  optimiser {o.optimizer}, learning rate {o.learning_rate:g} ({o.lr_schedule} schedule), momentum {o.momentum:g}"
        f" ({'Nesterov' if o.nesterov else 'classic'}{', normalised' if o.momentum_normalized else ''}), L1 {o.l1:g}, L2 {o.l2:g}",
        f"  loss {t.loss}, sampling {t.sampling}, normalisation {t.normalization}, padding {'on' if t.apply_padding else 'off'},"
        f" precision {t.precision}, seed {t.seed}",
    ]


def pairing_lines(
    title: str, data: DataConfig, indexes: tuple[int, ...]
) -> tuple[list[str], list[str]]:
    """Lines listing each case's files, and the problems found."""
    lines = [f"Data ({title}, indexes {list(indexes)}):"]
    problems = folder_problems(data)
    if problems:
        return lines + ["  (not paired: see problems below)"], problems
    cases = all_cases(data)
    for i in indexes:
        if i < len(cases):
            case = cases[i]
            images = ", ".join(path.name for path in case.images)
            label = case.label.name if case.label else "-"
            roi = case.roi.name if case.roi else "-"
            lines.append(f"  {i}: image {images} | label {label} | ROI {roi}")
    problem = index_problem(title, indexes, len(cases), data.image_folders[0])
    return lines, [problem] if problem else []


# Resident memory (anonymous + shared) measured on `livianet train` (bench/cache_rows.py, 256^3
# cases, docs/performance.md): what the estimates below are made of.
PROCESS_BYTES = 350 << 20  # Python, NumPy, PyTorch and livianet, before any case
BOX_SHARE = 0.2  # an entry's size / its bound, for brains in their ROIs (measured: 0.16)
PREPROCESS_BYTES_PER_VOXEL = 14  # per input voxel and channel while a case is preprocessed
IN_MEMORY_BYTES_PER_VOXEL = 15  # per model-grid voxel and case held in memory (cache = 0)
STEP_COPIES = 4  # activations kept per layer for the backward pass (output, norm, act, grad)


def training_step_bytes(config: TrainingConfig) -> int:
    """The activations and parameter state of one training step (float32)."""
    model_cfg, train = config.model, config.train
    voxels = 0
    size: tuple[int, ...] = train.patch_size
    for out, kernel in zip(model_cfg.conv_channels, model_cfg.conv_kernels, strict=True):
        size = tuple(s - k + 1 for s, k in zip(size, kernel, strict=True))
        voxels += out * math.prod(size)
    voxels += (sum(model_cfg.fc_channels) + model_cfg.num_classes) * math.prod(size)
    parameters = sum(
        a * b * math.prod(k)
        for a, b, k in zip(
            (model_cfg.in_channels, *model_cfg.conv_channels),
            model_cfg.conv_channels,
            model_cfg.conv_kernels,
            strict=False,
        )
    )
    return 4 * (STEP_COPIES * train.batch_size * voxels + 4 * parameters)


def cache_lines(
    config: TrainingConfig, cache: Path | None, jobs: int
) -> tuple[list[str], list[str]]:
    """Where the cases go (the cache, or memory), the disk that takes, and the memory the run needs."""
    from livianet.cache import cache_folder, plan_cache
    from livianet.errors import LivianetError

    settings = config.cache_settings
    root = cache_folder(config, cache)
    try:
        plan = plan_cache(config, root, save_memo=False)
    except LivianetError as exc:
        return [], [str(exc)]
    voxels = [math.prod(e.model_shape) for e in plan.entries]
    step = PROCESS_BYTES + training_step_bytes(config)
    validation = max(
        (v * (4 * config.model.in_channels + 3) for v in voxels[len(plan.training) :]), default=0
    )
    if not settings.enabled and cache is None:
        held = sum(voxels) * IN_MEMORY_BYTES_PER_VOXEL * config.model.in_channels
        return [
            "Cases: held in memory (cache = 0)",
            f"Memory: about {_gib(step + held + validation)} at the peak ({_gib(held)} for the "
            f"{len(voxels)} cases, {_gib(step)} for PyTorch and a training step)",
        ], []
    return _cached_lines(config, plan, root, jobs, step, validation)


def _cached_lines(
    config: TrainingConfig, plan: CachePlan, root: Path, jobs: int, step: int, validation: int
) -> tuple[list[str], list[str]]:
    import shutil

    present = [e for e in plan.entries if e.present]
    missing = [e for e in plan.entries if not e.present]
    stored = sum(_entry_bytes(e) for e in present)
    lines = [
        f"Cache: {root} ({config.cache_settings.dtype} images)",
        f"  {len(present)} of {len(plan.entries)} cases preprocessed ({_mib(stored)})",
    ]
    problems = []
    if missing:
        bound = sum(_bound_bytes(config, e) for e in missing)
        per_voxel = stored / max(sum(math.prod(e.model_shape) for e in present), 1)
        likely = sum(per_voxel * math.prod(e.model_shape) for e in missing)
        likely = likely if present else bound * BOX_SHARE
        existing = next(p for p in (root, *root.parents) if p.exists())
        free = shutil.disk_usage(existing).free
        lines[-1] += (
            f"; {len(missing)} to preprocess: about {_mib(likely)} more on disk (at most "
            f"{_mib(bound)}), {_mib(free)} free"
        )
        if likely > free:
            problems.append(f"{root}: about {_mib(likely)} to write, {_mib(free)} free")
    workers = min(jobs, len(missing))
    prepare = max((math.prod(e.model_shape) for e in missing), default=0)
    prepare *= PREPROCESS_BYTES_PER_VOXEL * config.model.in_channels * workers
    lines.append(
        f"Memory: about {_gib(step + max(prepare, validation))} at the peak ({_gib(step)} for "
        "PyTorch and a training step"
        + (f", {_gib(prepare)} while {workers} processes preprocess" if missing else "")
        + (f", {_gib(validation)} validating" if validation else "")
        + "; the cases are read through memory maps, whatever their number)"
    )
    return lines, problems


def _entry_bytes(entry: PlannedEntry) -> int:
    from livianet.cache.entry import EntryProblem, read_meta

    try:
        return read_meta(entry.folder).bytes
    except EntryProblem:
        return 0


def _bound_bytes(config: TrainingConfig, entry: PlannedEntry) -> int:
    """An entry's size if it kept the whole (padded) grid: every voxel a candidate centre."""
    pads = config.train.patch_size if config.train.apply_padding else (1, 1, 1)
    voxels = math.prod(s + p - 1 for s, p in zip(entry.model_shape, pads, strict=True))
    image = 2 if config.cache_settings.dtype == "float16" else 4
    return voxels * (image * config.model.in_channels + 2) + 4 * math.prod(entry.model_shape)


def _mib(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def dry_run(
    config: TrainingConfig, cache: Path | None = None, jobs: int = 1
) -> tuple[str, list[str]]:
    """The report text and the list of problems (empty when the run could start)."""
    lines = settings_lines(config)
    problems: list[str] = []
    sections = [("training", config.data, config.train_indexes)]
    if config.validation_indexes:
        sections.append(("validation", config.data, config.validation_indexes))
    if config.segmentation is not None:
        sections.append(("segmentation", config.segmentation.data, config.segmentation.indexes))
    for title, data, indexes in sections:
        section_lines, found = pairing_lines(title, data, indexes)
        lines += section_lines
        problems += [p for p in found if p not in problems]
    lines += network_lines(config)
    if (
        config.transfer.weights_folder is not None
        and not Path(config.transfer.weights_folder).is_dir()
    ):
        problems.append(f"{config.transfer.weights_folder}: weights folder not found")
    if not problems:
        more, found = cache_lines(config, cache, jobs)
        lines += more
        problems += found
    if problems:
        lines.append("Problems:")
        lines += [f"  - {p}" for p in problems]
    else:
        lines.append("Ready: the run can start.")
    return "\n".join(lines), problems
