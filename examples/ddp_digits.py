"""Train a digits MLP with `fit` under torchrun (gloo on CPU, NCCL on GPU):

    torchrun --standalone --nproc_per_node 2 examples/ddp_digits.py --accum-steps 2

Outputs go under the git-ignored mllab-out/ (default mllab-out/examples/ddp_digits.safetensors).

Each rank trains on its shard (TensorLoader(rank=, world_size=)); fit all-reduces the item count of each
accumulation group and skips the gradient all-reduce (no_sync) inside a group. Rank 0 writes the weights
(safetensors) and every rank prints the epochs' training loss, which is the global mean on every rank.
"""

import argparse
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel

from mllab.data import TensorLoader, load_dataset
from mllab.models import MLP
from mllab.train import fit
from mllab.train.distributed import cleanup, init_distributed
from mllab.train.losses import cross_entropy_sum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training split")
    parser.add_argument("--batch-size", type=int, default=16, help="micro-batch size per rank")
    parser.add_argument("--accum-steps", type=int, default=2, help="micro-batches per optimizer step")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    parser.add_argument("--out", type=Path, default=Path("mllab-out/examples/ddp_digits.safetensors"),
                        help="where rank 0 writes the final weights (.safetensors; default "
                             "mllab-out/examples/ddp_digits.safetensors)")
    args = parser.parse_args()

    rank, world_size, device = init_distributed()
    data = load_dataset("digits", seed=0, device=device)
    torch.manual_seed(0)  # the same initial weights on every rank
    model = MLP(64, 10, width=64, depth=2).to(device)
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    loader = TensorLoader((data.train.x, data.train.y), args.batch_size, seed=0, rank=rank, world_size=world_size)
    state = fit(model, cross_entropy_sum, loader, torch.optim.SGD(model.parameters(), lr=args.lr),
                epochs=args.epochs, accum_steps=args.accum_steps)
    print(f"rank {rank}/{world_size}: steps {state.global_step}, train loss per epoch "
          + " ".join(f"{h['train_loss']:.6f}" for h in state.history), flush=True)
    if rank == 0:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        inner = model.module if world_size > 1 else model
        save_file({k: v.detach().cpu().contiguous() for k, v in inner.state_dict().items()}, args.out)
    cleanup()


if __name__ == "__main__":
    main()
