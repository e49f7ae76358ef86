"""Data-parallel context: one process, or torchrun's process group.

Launched by ``torchrun --nproc_per_node K cryostar-boltz train ...`` the
environment carries RANK/WORLD_SIZE/LOCAL_RANK; NCCL is used between GPUs,
gloo between CPU processes. Gradients are summed over ranks in one
flattened all-reduce, so every rank applies the same update and the result
equals a single process on the same global batch.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def active(self):
        return self.world > 1

    def all_reduce_(self, tensor):
        """Sum ``tensor`` over ranks in place; returns it."""
        if self.active:
            dist.all_reduce(tensor)
        return tensor

    def all_reduce_gradients(self, parameters, scale=1.0):
        """Sum gradients over ranks (one flattened buffer), times ``scale``."""
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        if self.active:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
        if scale != 1.0:
            for g in grads:
                g.mul_(scale)

    def all_gather_rows(self, tensor):
        """Concatenate a (n_i, ...) tensor over ranks (equal n_i)."""
        if not self.active:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def broadcast_flag(self, flag):
        """True on every rank if ``flag`` is true on any rank."""
        if not self.active:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def barrier(self):
        if self.active:
            dist.barrier()

    def close(self):
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(name, local_rank=0):
    """'auto' -> the local GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = "cuda:%d" % local_rank
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device %s requested but no CUDA GPU is available"
                         % name)
    return device


def init_distributed(device_name="auto"):
    """The context of this process; initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local_rank, device)
