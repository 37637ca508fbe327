"""``livianet train CONFIG --dry-run``: what a run would do, without doing it."""

from __future__ import annotations

from pathlib import Path

from livianet.config import DataConfig, TrainingConfig
from livianet.data import all_cases, folder_problems, index_problem


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


def dry_run(config: TrainingConfig) -> tuple[str, list[str]]:
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
    if problems:
        lines.append("Problems:")
        lines += [f"  - {p}" for p in problems]
    else:
        lines.append("Ready: the run can start.")
    return "\n".join(lines), problems
