"""A local server: OpenAI's API for a LLaDA model, with every diffusion step streamed.

`llada-studio serve` (core/cli_serve.py) runs `create_app(session)` under uvicorn. Files, one
concern each: `app.py` (routes), `schemas.py` (request bodies -> GenerationParams), `scheduler.py`
(the engine thread, the bounded queue, batching), `sse.py` (event framing, the settled-text
stream), `security.py` (API key, loopback rule, limits), `errors.py` (OpenAI's error shape),
`runner.py` (uvicorn, in the foreground or on a thread).

Protocol (what a client, the window included, can rely on):

- `GET /v1/models`: one model, its `id` the checkpoint folder's name; the `llada` object says
  where and how it runs (`description`, `engine`, `device`, `threads`, `max_sequence_length`,
  `chat`, `mask_id`, `eos_id`, `eot_id`, `max_batch`).
- `POST /v1/completions` (`prompt`: text, `[text]` or token ids) and `POST /v1/chat/completions`
  (`messages`, needs a checkpoint with a chat template): OpenAI's request and response. Extra
  fields: `steps`, `block_length`, `cfg_scale`, `remasking`, `decoding`, `threshold`, `factor`,
  `cache`, `logits_eos_inf`, `confidence_eos_eot_inf` (core/params.py), `stream_steps`.
  `max_tokens` is the generation length (default 128) and must be a multiple of `block_length`
  (default: the largest divisor of it up to 8); `steps` defaults to `max_tokens`; `temperature`
  defaults to 1.0; without `seed` a random one is drawn and reported.
- The final response (and the last stream chunk) carries `diffusion`: `steps`, `forward_passes`,
  `seed`, `batch_size`, `prompt_ids`, `generated_ids` (all gen_length positions, EOS padding
  included), `params` (every sampler field), `timings`.
- Streaming (`stream: true`): `data: {chunk}` events, then `data: [DONE]`. Text deltas are the
  settled prefix (sse.py): appended they give the final text. With `stream_steps: true` every
  sampler step sends one chunk (its delta may be empty) with a `diffusion_step` object:
  `step` (1..total_steps), `total_steps` (an upper bound with parallel decoding), `block`,
  `num_blocks`, `positions` (0-based in the generated region), `tokens`, `texts` (each token's
  own text), `confidences`, `elapsed` (s), `forward_passes`. Replaying them over `max_tokens`
  masks rebuilds the canvas. An error during a stream is one `data: {"error": {...}}` event.
- Stop: close the connection. The job stops getting events at once; the engine stops before its
  next forward pass unless other clients share its batch (then it ends with them).
- Errors: `{"error": {"message", "type", "param", "code"}}` with 400 (bad parameter, unknown
  field), 401 (`Authorization: Bearer KEY` missing or wrong), 404 (unknown model or route), 413
  (body over the limit, max_tokens over the server's cap, prompt + max_tokens over the context),
  503 (queue full, `Retry-After: 1`); 415 for a POST body not declared `application/json` and,
  on a server without a key, 403 for a Host header that is not a loopback name (both keep web
  pages from driving a local server: cross-site simple requests, DNS rebinding).
"""

from __future__ import annotations

from .app import create_app
from .security import BindError, Limits, check_bind, is_loopback

__all__ = ["BindError", "Limits", "check_bind", "create_app", "is_loopback"]
