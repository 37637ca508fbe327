"""The network: LiviaNet, its batch-norm-folded inference form, checkpoints, transfer, export."""

from livianet.networks.checkpoint import (
    Checkpoint,
    check_compatible,
    checkpoint_name,
    list_epoch_checkpoints,
    load_checkpoint,
    load_model_state,
    model_from_checkpoint,
    save_checkpoint,
    stored_model_config,
    training_checkpoint,
)
from livianet.networks.checkpoint_schema import BestEpoch, CheckpointContents, ModelMeta
from livianet.networks.export import export_model
from livianet.networks.folded import FusedLiviaNet, fuse
from livianet.networks.livianet import LiviaNet, build_model, centre_crop, count_parameters
from livianet.networks.original_weights import (
    export_npy_weights,
    list_npy,
    load_npy,
    load_npy_weights,
)
from livianet.networks.transfer import freeze_layers, transfer_layers

__all__ = [
    "BestEpoch",
    "Checkpoint",
    "CheckpointContents",
    "FusedLiviaNet",
    "LiviaNet",
    "ModelMeta",
    "build_model",
    "centre_crop",
    "check_compatible",
    "checkpoint_name",
    "count_parameters",
    "export_model",
    "export_npy_weights",
    "freeze_layers",
    "fuse",
    "list_epoch_checkpoints",
    "list_npy",
    "load_checkpoint",
    "load_model_state",
    "load_npy",
    "load_npy_weights",
    "model_from_checkpoint",
    "save_checkpoint",
    "stored_model_config",
    "training_checkpoint",
    "transfer_layers",
]
