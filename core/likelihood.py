"""How likely a text is under the model: the Monte-Carlo ELBO of LLaDA's get_log_likelihood.py.

A masked-diffusion model has no exact per-token likelihood; it bounds log p(answer | prompt) from
below by the ELBO (LLaDA paper, eq. 12 as used in its get_log_likelihood.py):

    log p(a | p) >= E_{l ~ U{1..L}} [ (L / l) * sum_{masked i} log p_theta(a_i | p, a_masked) ]

estimated with `mc_num` samples in batches of `batch_size`. Within a batch the mask counts are
evenly spaced (a random start k, then k + j L / b, wrapped into 1..L: less variance than b
independent draws), each row masks a random subset of that size, and a masked token's cross
entropy is divided by its mask ratio p = l / L. Everything is computed in float64 from the
engine's logits, with numpy's PCG64 stream for `seed`: the same seed gives the same estimate on
either engine up to their logits' rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .events import CancelToken
from .session import Session


@dataclass(frozen=True)
class LikelihoodEstimate:
    log_likelihood: float  # the ELBO estimate of log p(answer | prompt), in nats (<= 0)
    stderr: float  # standard error of the estimate over its batches (0 with one batch)
    tokens: int  # answer tokens scored
    mc_num: int  # Monte-Carlo samples used
    batch_size: int
    seed: int
    cancelled: bool = False

    @property
    def nats_per_token(self) -> float:
        return -self.log_likelihood / max(1, self.tokens)

    @property
    def perplexity_bound(self) -> float:
        """exp(nats per token): an upper bound on the perplexity (the ELBO bounds from below)."""
        return math.exp(min(700.0, self.nats_per_token))

    def describe(self) -> str:
        return (
            f"log-likelihood >= {self.log_likelihood:.2f} nats (ELBO, {self.mc_num} samples, seed {self.seed}, "
            f"± {self.stderr:.2f}); {self.tokens} tokens, {self.nats_per_token:.3f} nats/token, "
            f"perplexity <= {self.perplexity_bound:.1f}"
        )


def _mask_batch(rng: np.random.Generator, b: int, answer_len: int, prompt_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Which positions each of b rows masks ([b, P + L] bool) and each row's mask ratio [b]."""
    k = int(rng.integers(1, answer_len + 1))
    counts = np.round(np.linspace(float(k), k + (b - 1) * (answer_len / b), num=b)).astype(np.int64)
    counts = ((counts - 1) % answer_len) + 1
    is_mask = np.zeros((b, prompt_len + answer_len), dtype=bool)
    for row, n in enumerate(counts):
        chosen = rng.permutation(answer_len)[:n]
        is_mask[row, prompt_len + chosen] = True
    return is_mask, counts / answer_len


def _log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log p(target) for rows of logits [N, V] (float64, stable)."""
    x = logits.astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(x - top).sum(axis=1))
    out: np.ndarray = x[np.arange(len(targets)), targets] - lse
    return out


def score_ids(
    session: Session,
    prompt_ids: Sequence[int],
    answer_ids: Sequence[int],
    mc_num: int = 128,
    batch_size: int = 16,
    cfg_scale: float = 0.0,
    seed: int = 0,
    cancel: CancelToken | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> LikelihoodEstimate:
    """The ELBO estimate of log p(answer | prompt); `on_batch(done, total)` after each batch."""
    if not answer_ids:
        raise ValueError("nothing to score: the text has no tokens after the prompt")
    if isinstance(mc_num, bool) or not isinstance(mc_num, int) or mc_num < 1 or mc_num > 1 << 16:
        raise ValueError(f"mc_num must be a whole number from 1 to 65536, got {mc_num!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 1024:
        raise ValueError(f"batch_size must be a whole number from 1 to 1024, got {batch_size!r}")
    if not (math.isfinite(cfg_scale) and cfg_scale >= 0):
        raise ValueError(f"cfg_scale must be a finite number >= 0, got {cfg_scale}")
    ck = session.checkpoint
    seq = np.asarray([*prompt_ids, *answer_ids], dtype=np.int64)
    if seq.size > ck.config.max_sequence_length:
        raise ValueError(
            f"the text has {seq.size} tokens, more than the model's max_sequence_length "
            f"({ck.config.max_sequence_length})"
        )
    p_len, a_len = len(prompt_ids), len(answer_ids)
    batch_size = min(batch_size, mc_num)
    batches = max(1, mc_num // batch_size)
    rng = np.random.Generator(np.random.PCG64(seed))
    totals: list[float] = []
    for n in range(batches):
        if cancel is not None and cancel.cancelled:
            break
        is_mask, ratio = _mask_batch(rng, batch_size, a_len, p_len)
        noisy = np.where(is_mask, ck.mask_id, seq[None, :])
        logits = session.forward_logits(noisy)
        if cfg_scale > 0:  # the reference's guidance: the same batch with the prompt masked too
            unprompted = noisy.copy()
            unprompted[:, :p_len] = ck.mask_id
            un = session.forward_logits(unprompted)
            logits = un + (cfg_scale + 1) * (logits - un)
        rows, cols = np.nonzero(is_mask)
        logp = _log_softmax_at(logits[rows, cols], seq[cols])
        if not np.isfinite(logp).all():
            raise ValueError("the model's logits are not finite numbers: the weights may be damaged")
        totals.append(float((logp / ratio[rows]).sum() / batch_size))
        if on_batch is not None:
            on_batch(n + 1, batches)
    if not totals:
        return LikelihoodEstimate(float("nan"), 0.0, a_len, 0, batch_size, seed, cancelled=True)
    mean = float(np.mean(totals))
    stderr = float(np.std(totals, ddof=1) / math.sqrt(len(totals))) if len(totals) > 1 else 0.0
    return LikelihoodEstimate(
        mean, stderr, a_len, len(totals) * batch_size, batch_size, seed, cancelled=len(totals) < batches
    )


def score_text(session: Session, text: str, prompt: str = "", **options: object) -> LikelihoodEstimate:
    """The ELBO of `text` as the continuation of `prompt` (plain text, no chat template)."""
    prompt_ids = session.encode(prompt)  # [BOS] (or nothing) for no prompt
    full = session.encode(prompt + text)
    # Score the continuation's own tokens: those after the prompt's (byte-level BPE may merge a
    # token across the seam; then the merged token counts as the continuation's).
    cut = len(prompt_ids) if full[: len(prompt_ids)] == prompt_ids else max(0, len(prompt_ids) - 1)
    return score_ids(session, full[:cut], full[cut:], **options)  # type: ignore[arg-type]
