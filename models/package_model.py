"""Turn a finished training checkpoint into a built-in model: package weights and card.

    python models/package_model.py subcortical-abide-v1 RUNS/.../subcortical_Epoch160.pt

Writes ``src/livianet/pretrained/<name>.pt`` (the checkpoint without optimiser,
scaler and per-epoch history: what segmentation reads, loadable with
``weights_only=True``) and ``<name>.json``, the card: ``models/<name>/card.json``
(summary, licence, measured figures) with the text of ``models/<name>/card.md``
and the weight file's SHA-256; the card's section of ``docs/models.md`` gets the
same text. ``models/<name>/original_labels.tsv`` (label,
code), when present, becomes the codes ``segment --original-labels`` writes.

``--places-from CONFIG --data-root DATA`` records (or re-records) where each structure lies in
its training scans, in the frame of their brain masks, as training does: the QC flags for
misplaced and over-extended structures read it. A checkpoint trained before that record
existed gets it this way from the same training folder, its weights unchanged:

    python models/package_model.py subcortical-abide-v1 src/livianet/pretrained/subcortical-abide-v1.pt \
        --places-from models/subcortical-abide-v1/train.ini --data-root RUNS/data
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from pathlib import Path

from livianet.atomic import write_text_atomic
from livianet.networks.checkpoint import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
# what segmentation needs; the rest of a training checkpoint is for resuming
DROPPED = ("optimizer_state", "scaler_state", "metrics", "best", "frozen_layers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--places-from", type=Path, metavar="CONFIG", help="training INI")
    parser.add_argument("--data-root", type=Path, help="its data folders (with --places-from)")
    args = parser.parse_args()
    recipe = REPO / "models" / args.name
    state = load_checkpoint(args.checkpoint)
    slim = {
        k: v
        for k, v in state.items()
        if k not in DROPPED and k not in ("kind", "format_version", "livianet_version")
    }
    codes = recipe / "original_labels.tsv"
    if codes.is_file():
        with codes.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        slim["original_labels"] = {str(int(r["label"])): int(r["code"]) for r in rows}
    if args.places_from is not None:
        slim["training_places"] = training_places_of(args.places_from, args.data_root)
    card = json.loads((recipe / "card.json").read_text(encoding="utf-8"))
    slim["model_name"] = args.name
    slim["licence"] = card["licence_short"]  # shown wherever the model's results go
    target = REPO / "src" / "livianet" / "pretrained" / f"{args.name}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(slim, target)
    card["card"] = (recipe / "card.md").read_text(encoding="utf-8").strip()
    card["trained_epochs"] = int(state["epoch"])
    card["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    write_text_atomic(target.with_suffix(".json"), json.dumps(card, indent=2) + "\n")
    docs = REPO / "docs" / "models.md"  # the card's section there is this text (tests/test_docs.py)
    section = re.compile(
        rf"(<!-- card: {re.escape(args.name)} -->\n).*?(\n<!-- end card -->)", re.S
    )
    text = docs.read_text(encoding="utf-8")
    if not section.search(text):
        raise SystemExit(f"{docs}: no '<!-- card: {args.name} -->' section to fill")
    write_text_atomic(docs, section.sub(lambda m: m.group(1) + card["card"] + m.group(2), text))
    size = target.stat().st_size / 1e6
    print(f"{target} ({size:.2f} MB, epoch {state['epoch']}), {target.with_suffix('.json')}")
    return 0


def training_places_of(config_file: Path, data_root: Path | None) -> dict[str, dict]:
    """Each label's place range over the config's training cases, as a training run records it."""
    from livianet.config import load_training_config
    from livianet.training.training_data import CaseSummary, load_training_cases, training_places

    config = load_training_config(config_file, data_root=data_root)
    cases, _, _ = load_training_cases(config, with_validation=False)
    summaries = [CaseSummary.of_case(case, config.model.num_classes) for case in cases]
    places = training_places(summaries)
    if not places:
        raise SystemExit(f"{config_file}: no place ranges (cases of unknown orientation?)")
    print(f"place ranges of {len(places)} labels over {len(cases)} training cases")
    return {str(k): v for k, v in places.items()}


if __name__ == "__main__":
    sys.exit(main())
