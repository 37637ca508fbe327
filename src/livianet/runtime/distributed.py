"""torch.distributed glue: one process per device, launched by ``torchrun``.

Only what livianet needs: reading torchrun's environment, starting the process
group (gloo on CPU, nccl on CUDA), and small collective helpers that are no-ops
in a single process.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger(__name__)


def _dist():
    """``torch.distributed``, imported on first use: it costs a second or two at start-up."""
    import torch.distributed as dist

    return dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _initialized() -> bool:
    """Whether a process group is up (without importing torch.distributed when none can be)."""
    return env_info().enabled and _dist().is_initialized()


def env_info() -> DistInfo:
    """Rank and world size from torchrun's environment (1 process when absent)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op otherwise."""
    info = env_info()
    if info.world_size > 1 and not _initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        _import_before_the_group()
        _dist().init_process_group(backend=backend)
        logger.info("process %d of %d joined (%s)", info.rank, info.world_size, backend)
    return info


def _import_before_the_group() -> None:
    """Import, while no group exists, the module that would otherwise keep the group alive.

    ``torch.distributed.nn.functional`` (imported by ``DistributedDataParallel``'s
    constructor) binds ``group.WORLD`` as default arguments when it is imported. Imported
    after ``init_process_group``, those defaults hold the group past
    ``destroy_process_group``: its gloo threads then live on until the interpreter tears
    the module down at exit, and a gloo thread that needs the GIL then (a tensor or callback
    of the last collectives) calls ``pthread_exit`` inside C++ and aborts the process
    ("terminate called without an active exception"). Imported first, the defaults are None.
    """
    import torch.distributed.nn.functional  # noqa: F401


def shutdown(wait: bool = False) -> None:
    """Leave the process group: destroy it now, after every process arrives when ``wait``.

    Destroying it here, with the interpreter whole, joins its threads; see
    :func:`_import_before_the_group` for what happens when a group outlives this call.
    Wait only on success: after an error the other processes may never reach the barrier.
    """
    if not _initialized():
        return
    dist = _dist()
    if wait:
        dist.barrier()
    gc.collect()  # a DistributedDataParallel in a reference cycle still holds the group
    dist.destroy_process_group()


def barrier() -> None:
    if _initialized():
        _dist().barrier()


def mean(value: float, device: torch.device) -> float:
    """Average a scalar over processes."""
    if not _initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    _dist().all_reduce(tensor)
    return float(tensor.item()) / _dist().get_world_size()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every process (any picklable object made here, never from files)."""
    if not _initialized():
        return value
    box = [value]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def shard(items: list, info: DistInfo) -> list:
    """Every ``world_size``-th item starting at ``rank``: each item to exactly one process."""
    return items[info.rank :: info.world_size]


class _AllGather(torch.autograd.Function):
    """Every process's ``tensor``, stacked ``(world_size, *shape)``; gradients flow back to each.

    The gradient of a process's input sums what every process's loss says about it.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        dist = _dist()
        ctx.rank = dist.get_rank()
        tensor = tensor.contiguous()
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        _dist().all_reduce(grad)
        return grad[ctx.rank]


def merge_moments(
    counts: torch.Tensor, means: torch.Tensor, m2s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of the union of groups (Chan et al.'s parallel algorithm).

    ``counts`` is ``(G, 1)``; ``means`` and ``m2s`` (sums of squared deviations, each about
    its group's own mean) are ``(G, C)``. No ``E[x^2] - E[x]^2``: that cancels in float32
    when activations are large beside their spread.

    >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    >>> mean, var = merge_moments(
    ...     torch.tensor([[1.0], [2.0]], dtype=torch.float64),
    ...     torch.stack([x[:1].mean(0), x[1:].mean(0)]),
    ...     torch.stack([torch.zeros(2, dtype=torch.float64), ((x[1:] - x[1:].mean(0)) ** 2).sum(0)]),
    ... )
    >>> mean.tolist(), var.tolist() == x.var(0, unbiased=False).tolist()
    ([3.0, 4.0], True)
    """
    total = counts.sum()
    mean = (counts * means).sum(0) / total
    m2 = m2s.sum(0) + (counts * (means - mean).square()).sum(0)
    return mean, m2 / total


class CpuSyncBatchNorm(torch.nn.BatchNorm3d):
    """Batch norm whose training statistics span every process, on the CPU (gloo).

    ``torch.nn.SyncBatchNorm`` runs on GPUs only. Here each process computes, per channel,
    its count, mean and sum of squared deviations about that mean; one (differentiable)
    all-gather shares them and :func:`merge_moments` combines them, as ``SyncBatchNorm``
    does, so N processes normalise like one process holding the whole global batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _initialized() and _dist().get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, channels] + [1] * (x.dim() - 2)
        values = x.float()
        local_mean = values.mean(dims)
        local_m2 = (values - local_mean.view(shape)).square().sum(dims)
        count = torch.tensor([values.numel() // channels], dtype=torch.float64, device=x.device)
        stats = torch.cat([local_mean.double(), local_m2.double(), count])
        gathered = _AllGather.apply(stats)  # (world_size, 2 * channels + 1)
        counts = gathered[:, -1:]
        mean, var = merge_moments(counts, gathered[:, :channels], gathered[:, channels:-1])
        total = counts.sum()
        running_mean, running_var, tracked = (
            self.running_mean,
            self.running_var,
            self.num_batches_tracked,
        )
        if self.track_running_stats and running_mean is not None:
            assert running_var is not None and tracked is not None  # registered with the mean
            with torch.no_grad():
                tracked.add_(1)
                momentum = (  # None: a cumulative average, as in BatchNorm
                    self.momentum if self.momentum is not None else 1.0 / float(tracked)
                )
                unbiased = var * (total / (total - 1).clamp_min(1.0))
                running_mean.lerp_(mean.to(running_mean.dtype), momentum)
                running_var.lerp_(unbiased.to(running_var.dtype), momentum)
        scale = torch.rsqrt(var + self.eps).float()
        if self.affine:
            scale = scale * self.weight
        out = (values - mean.float().view(shape)) * scale.view(shape)
        if self.affine:
            out = out + self.bias.view(shape)
        return out.to(x.dtype)


def synchronise_batch_norm(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Batch-norm statistics over all processes: SyncBatchNorm on GPUs, CpuSyncBatchNorm on CPUs."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in list(model.named_children()):
        if isinstance(child, torch.nn.BatchNorm3d) and not isinstance(child, CpuSyncBatchNorm):
            replacement = CpuSyncBatchNorm(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            replacement.load_state_dict(child.state_dict())
            replacement.train(child.training)
            setattr(model, name, replacement)
        else:
            synchronise_batch_norm(child, device)
    return model
