"""``livianet synth CONFIG --out DIR -n 5``: a few synthetic images from the INI's ``[Label Maps]``.

So a user can look at what the network is fed before training on it: whole maps rendered
as training renders them (deformed, random contrast and resolution), or, with
``--patches``, training patches and their targets exactly as a batch holds them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
    from livianet.synthesis import LabelMapSource

logger = logging.getLogger(__name__)

CLI_STREAM = 23  # seeds of the renders this command writes: [seed, CLI_STREAM, n]


def add_synth_parser(commands: Commands) -> None:
    synth = commands.add_parser(
        "synth",
        help="write synthetic training images drawn from the INI's [Label Maps]",
        description="Render label maps as the training images drawn from them (random "
        "deformation, contrast, bias, noise and resolution) and write each with its label map "
        "(model classes), so that you can see what the network is fed.",
    )
    synth.add_argument("config", type=Path, help="training INI with a [Label Maps] section")
    synth.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    synth.add_argument(
        "-n", "--count", type=int, default=5, help="how many images to write (default 5)"
    )
    synth.add_argument(
        "--patches",
        action="store_true",
        help="write training patches (input patch and target cube) instead of whole maps",
    )
    synth.add_argument(
        "--seed", type=int, default=None, help="seed of the draws (default: the INI's seed)"
    )


def run_synth(args: argparse.Namespace) -> int:
    from livianet.config import load_training_config
    from livianet.errors import ConfigError

    if args.count < 1:
        raise ConfigError(f"synth -n {args.count}: expected at least 1")
    config = load_training_config(args.config, label_maps_only=True)
    if config.synthesis is None:
        raise ConfigError(
            f"{args.config}: no [Label Maps] section; synth draws images from label maps"
        )
    from livianet.synthesis import LabelMapSource, training_priors

    source = LabelMapSource.from_config(config, priors=training_priors(config))
    seed = config.train.seed if args.seed is None else args.seed
    args.out.mkdir(parents=True, exist_ok=True)
    written = (
        _write_patches(source, seed, args) if args.patches else _write_maps(source, seed, args)
    )
    logger.info("wrote %d synthetic images and their label maps to %s", written, args.out)
    return 0


def _write_maps(source: LabelMapSource, seed: int, args: argparse.Namespace) -> int:
    from livianet.io import Volume, save_volume, strip_volume_suffix

    for n in range(args.count):
        index = n % len(source.maps)
        done = source.render(index, [seed, CLI_STREAM, n])
        stem = f"synth_{n:03d}_{strip_volume_suffix(done.source.name)}"
        grid = Volume(done.labels, done.affine, None, done.source)
        save_volume(done.image[0] if done.image.shape[0] == 1 else done.image,
                    args.out / f"{stem}_image.nii.gz", grid)  # fmt: skip
        save_volume(done.labels, args.out / f"{stem}_labels.nii.gz", grid, kind="label")
        logger.info("%s: %s, shape %s", stem, done.source, "x".join(map(str, done.labels.shape)))
    return args.count


def _write_patches(source: LabelMapSource, seed: int, args: argparse.Namespace) -> int:
    import numpy as np

    from livianet.io import Volume, save_volume
    from livianet.synthesis import sample_seeds

    images, targets = source.patches(sample_seeds(seed, 0, 0, 0, args.count))
    spacing = np.asarray(source.plan.spacing)
    affine = np.diag([*spacing, 1.0])
    inner = affine.copy()
    inner[:3, 3] = spacing * np.asarray(source.plan.target_offset)
    for n in range(args.count):
        stem = f"patch_{n:03d}"
        image = images[n, 0] if images.shape[1] == 1 else images[n]
        save_volume(image, args.out / f"{stem}_image.nii.gz", Volume(image, affine, None, args.out))
        target = targets[n].astype(np.uint8)
        save_volume(target, args.out / f"{stem}_target.nii.gz",
                    Volume(target, inner, None, args.out), kind="label")  # fmt: skip
    return args.count
