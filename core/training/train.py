"""LLaDA masked-diffusion pre-training of the reference module (core/torch_backend/model.py).

Objective (LLaDA pre-training): per sequence draw t ~ U(eps, 1], replace each token (BOS at
position 0 excluded) by the mask id with probability t, and take the cross-entropy on the masked
positions weighted by 1/t, normalised by the number of tokens. bf16 autocast, AdamW, linear
warmup then cosine decay, torch.compile on CUDA. A wall-clock budget sets the number of steps
(measured after compilation), so the run ends in time; the weights with the best validation
ELBO loss are kept and written in <=15 MB safetensors chunks (bf16) for the trip back.

    python -m core.training.train --data work_data/arrays --out work_data/run --size tiny \
        --budget-s 60 --device cpu
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..torch_backend.model import LLaDAModel

# name -> (d_model, n_layers, n_heads, mlp_hidden_size)
SIZES = {
    "tiny": (64, 2, 4, 176),  # CPU tests of the script only
    "s384": (384, 8, 6, 1024),  # ~20.5M parameters with an 8192 vocabulary, untied
    "m512": (512, 6, 8, 1408),  # ~27.7M
    "l12": (384, 12, 6, 1024),  # ~27.6M
}
EPS = 1e-3


def model_config(size: str, meta: dict, max_len: int) -> ModelConfig:
    d, n_layers, n_heads, mlp = SIZES[size]
    ids = meta["special_ids"]
    return ModelConfig(
        d_model=d,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_heads,
        mlp_hidden_size=mlp,
        vocab_size=meta["vocab_size"],
        embedding_size=meta["vocab_size"],
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        max_sequence_length=max_len,
        mask_token_id=ids["<|mdm_mask|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        eot_token_id=ids["<|eot_id|>"],
        bos_token_id=ids["<|startoftext|>"],
        weight_tying=False,
    )


def init_weights(model: LLaDAModel, n_layers: int) -> None:
    """GPT-2 style: normal(0, 0.02), output projections scaled by 1/sqrt(2 * layers)."""
    for name, p in model.named_parameters():
        if p.dim() == 1:
            torch.nn.init.ones_(p)
        elif name.endswith("attn_out.weight") or name.endswith("ff_out.weight"):
            torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layers))
        else:
            torch.nn.init.normal_(p, std=0.02)


class Batches:
    """Windows `[BOS | L-1 tokens]` starting at random paragraph starts of the token stream."""

    def __init__(self, tokens: np.ndarray, starts: np.ndarray, bos: int, device: torch.device, seed: int):
        self.tokens = torch.from_numpy(tokens.astype(np.int64)).to(device)
        self.starts = torch.from_numpy(starts.astype(np.int64)).to(device)
        self.bos = bos
        self.device = device
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)

    def sample(self, batch: int, length: int) -> torch.Tensor:
        ok = self.starts[self.starts + length - 1 <= self.tokens.numel()]
        pick = ok[torch.randint(0, ok.numel(), (batch,), generator=self.gen, device=self.device)]
        idx = pick[:, None] + torch.arange(length - 1, device=self.device)[None, :]
        x = self.tokens[idx]
        bos = torch.full((batch, 1), self.bos, dtype=x.dtype, device=self.device)
        return torch.cat([bos, x], dim=1)


def val_windows(tokens: np.ndarray, bos: int, length: int) -> torch.Tensor:
    """Consecutive non-overlapping windows of the validation stream, each after a BOS."""
    n = (tokens.size // (length - 1)) * (length - 1)
    body = torch.from_numpy(tokens[:n].astype(np.int64)).view(-1, length - 1)
    return torch.cat([torch.full((body.shape[0], 1), bos, dtype=torch.long), body], dim=1)


def diffusion_loss(
    model, x: torch.Tensor, mask_id: int, gen: torch.Generator | None, t: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ELBO loss: sum of masked CE / t over B * (L-1) tokens, plain mean CE on masked tokens)."""
    B, L = x.shape
    if t is None:
        t = (1 - EPS) * torch.rand(B, device=x.device, generator=gen) + EPS
    r = torch.rand(B, L, device=x.device, generator=gen)
    masked = r < t[:, None]
    masked[:, 0] = False  # BOS stays
    noisy = torch.where(masked, torch.full_like(x, mask_id), x)
    logits = model(noisy)
    ce = F.cross_entropy(logits[masked], x[masked], reduction="none")
    weights = (1.0 / t)[:, None].expand(B, L)[masked]
    elbo = (ce * weights).sum() / (B * (L - 1))
    return elbo, ce.mean()


@torch.no_grad()
def evaluate(
    model, windows: torch.Tensor, mask_id: int, device: torch.device, amp: bool, repeats: int = 8, batch: int = 64
) -> dict[str, float]:
    """Validation ELBO loss (t ~ U(eps, 1], `repeats` draws per window, fixed seed) and plain
    cross-entropy at a fixed 50% mask (fixed seed): deterministic for given weights."""
    model.eval()
    gen = torch.Generator(device=device)
    gen.manual_seed(1234)
    elbo_sum, elbo_n, ce_sum, ce_n = 0.0, 0, 0.0, 0
    for rep in range(repeats):
        for i in range(0, windows.shape[0], batch):
            x = windows[i : i + batch].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                elbo, _ = diffusion_loss(model, x, mask_id, gen)
                elbo_sum += float(elbo) * x.shape[0]
                elbo_n += x.shape[0]
                if rep < 2:
                    t = torch.full((x.shape[0],), 0.5, device=device)
                    _, ce = diffusion_loss(model, x, mask_id, gen, t=t)
                    ce_sum += float(ce) * x.shape[0]
                    ce_n += x.shape[0]
    model.train()
    return {"val_elbo": elbo_sum / elbo_n, "val_ce50": ce_sum / ce_n}


def save_chunks(state: dict[str, torch.Tensor], folder: Path, max_bytes: int = 15_000_000) -> list[str]:
    """bf16 safetensors files of at most `max_bytes` each (big tensors alone in a file)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("weights-*.safetensors"):
        old.unlink()
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in state.items():
        b = t.numel() * 2
        if groups[-1] and size + b > max_bytes:
            groups.append({})
            size = 0
        groups[-1][name] = t.to(torch.bfloat16).contiguous()
        size += b
    names = []
    for i, g in enumerate(groups):
        fname = f"weights-{i:03d}.safetensors"
        save_file(g, str(folder / fname))
        names.append(fname)
    return names


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("work_data/arrays"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", choices=sorted(SIZES), default="s384")
    ap.add_argument("--init", type=Path, default=None, help="start from this checkpoint folder (same size)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument(
        "--short-lens", default="64,128", help="other lengths trained on (LLaDA trains a share at random lengths)"
    )
    ap.add_argument("--short-frac", type=float, default=0.2)
    ap.add_argument(
        "--batch", type=int, default=128, help="sequences per step at --seq-len (kept as tokens for short lengths)"
    )
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--budget-s", type=float, default=420.0, help="wall seconds for the whole script")
    ap.add_argument("--max-steps", type=int, default=0, help="cap (0: from the budget)")
    ap.add_argument("--val-limit", type=int, default=0, help="use only the first N validation windows (CPU tests)")
    ap.add_argument("--evals", type=int, default=30, help="validation points over the run")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    args = ap.parse_args(argv)

    t_start = time.time()
    device = torch.device(args.device)
    use_cuda = device.type == "cuda"
    do_compile = use_cuda if args.compile is None else args.compile
    torch.manual_seed(args.seed)
    if use_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    args.out.mkdir(parents=True, exist_ok=True)
    log_f = (args.out / "log.txt").open("w", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"[{args.size} {time.time() - t_start:6.1f}s] {msg}"
        print(line, flush=True)
        log_f.write(line + "\n")
        log_f.flush()

    meta = json.loads((args.data / "meta.json").read_text(encoding="utf-8"))
    cfg = model_config(args.size, meta, max_len=1024)
    mask_id, bos = cfg.mask_token_id, cfg.bos_token_id
    train_tokens = np.load(args.data / "train_tokens.npy")
    train_starts = np.load(args.data / "train_starts.npy")
    val_tokens = np.load(args.data / "val_tokens.npy")
    batches = Batches(train_tokens, train_starts, bos, device, args.seed)
    windows = val_windows(val_tokens, bos, args.seq_len)
    if args.val_limit:
        windows = windows[: args.val_limit]

    model = LLaDAModel(cfg).to(device)
    init_weights(model, cfg.n_layers)
    if args.init is not None:
        from ..checkpoint import load_checkpoint

        src = LLaDAModel.from_checkpoint(load_checkpoint(args.init), dtype=torch.float32).state_dict_for_checkpoint()
        with torch.no_grad():
            for name, p in model.state_dict_for_checkpoint().items():
                p.copy_(src[name].to(device))
        log(f"initialised from {args.init}")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"config {asdict(cfg)}")
    log(
        f"parameters {n_params:,}; train tokens {train_tokens.size:,}; val windows {windows.shape[0]}; device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if use_cuda else "")
    )

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
        fused=use_cuda,
    )
    fwd = torch.compile(model) if do_compile else model
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed + 1)
    short = [int(s) for s in args.short_lens.split(",") if s.strip()]
    rng = np.random.default_rng(args.seed)

    def step_once(lr: float, length: int) -> float:
        for g in opt.param_groups:
            g["lr"] = lr
        bsz = max(1, args.batch * args.seq_len // length)
        x = batches.sample(bsz, length)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_cuda):
            loss, _ = diffusion_loss(fwd, x, mask_id, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.detach()

    # Warm up (compiles each shape) at a tiny learning rate, then time steps to size the run.
    for length in [args.seq_len] + short:
        for _ in range(2):
            step_once(1e-6, length)
    if use_cuda:
        torch.cuda.synchronize()
    log(f"compiled/warmed in {time.time() - t_start:.1f}s")
    t0 = time.time()
    n_probe = 20 if use_cuda else 3
    for _ in range(n_probe):
        step_once(1e-6, args.seq_len)
    if use_cuda:
        torch.cuda.synchronize()
    step_s = (time.time() - t0) / n_probe
    t0 = time.time()
    ev = evaluate(model, windows, mask_id, device, use_cuda)
    eval_s = time.time() - t0
    log(f"step {step_s * 1000:.1f} ms; eval {eval_s:.2f}s; initial {ev}")
    # Reset the optimizer state touched by the probes (lr 1e-6: weights barely moved).
    opt.state.clear()

    # The schedule runs on wall-clock progress, not a step count: several runs may share one
    # GPU, so the speed of a step is not known in advance. The run ends at the budget.
    t_train = time.time()
    train_s = args.budget_s - (t_train - t_start) - args.evals * eval_s - 15.0  # saving and slack
    log(f"training for {train_s:.0f}s, {args.evals} evaluations, tokens/step {args.batch * args.seq_len}")

    def lr_at(step: int, prog: float) -> float:
        warm = min(1.0, (step + 1) / args.warmup)
        cos = args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, prog)))
        return args.lr * warm * cos

    best = {"val_elbo": float("inf")}
    history = []
    tokens_seen = 0
    run_loss = 0.0
    run_n = 0
    train_only = 0.0  # seconds spent in training steps (evaluations excluded)
    next_eval = 1
    step = 0
    while True:
        t_step = time.time()
        prog = train_only / train_s
        if prog >= 1.0 or (args.max_steps and step >= args.max_steps):
            break
        length = args.seq_len
        if short and rng.random() < args.short_frac:
            length = int(rng.choice(short))
        lr = lr_at(step, prog)
        loss = step_once(lr, length)
        step += 1
        tokens_seen += args.batch * args.seq_len
        if step % 25 == 1:
            run_loss += float(loss)
            run_n += 1
        train_only += time.time() - t_step
        last = (train_only >= train_s) or (args.max_steps and step >= args.max_steps)
        if train_only >= next_eval * train_s / args.evals or last:
            next_eval += 1
            ev = evaluate(model, windows, mask_id, device, use_cuda)
            ev.update(
                step=step,
                tokens=tokens_seen,
                train_loss=run_loss / max(1, run_n),
                lr=lr,
                elapsed_s=round(time.time() - t_train, 1),
            )
            run_loss, run_n = 0.0, 0
            history.append(ev)
            improved = ev["val_elbo"] < best["val_elbo"]
            if improved:
                best = dict(ev)
                state = {
                    k: v.detach().to("cpu", torch.float32, copy=True)
                    for k, v in model.state_dict_for_checkpoint().items()
                }
                save_chunks(state, args.out / "best")
            log(
                f"step {step} ({tokens_seen / 1e6:.0f}M tok) train {ev['train_loss']:.4f} "
                f"val_elbo {ev['val_elbo']:.4f} val_ce50 {ev['val_ce50']:.4f} lr {lr:.2e}{' *' if improved else ''}"
            )
            if time.time() - t_start > args.budget_s - 8:
                log("budget reached: stopping")
                break
    summary = {
        "size": args.size,
        "config": asdict(cfg),
        "parameters": n_params,
        "best": best,
        "history": history,
        "train_seconds": round(time.time() - t_train, 1),
        "total_seconds": round(time.time() - t_start, 1),
        "steps": step,
        "tokens_seen": tokens_seen,
        "device": torch.cuda.get_device_name(device) if use_cuda else "cpu",
        "torch": torch.__version__,
        "args": {k: str(v) for k, v in vars(args).items()},
        "step_ms": step_s * 1000,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log(f"done: best {best}")
    log_f.close()


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
