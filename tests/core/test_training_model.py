"""The bundled model folder: loads with the checkpoint validator, special ids agree with the
tokenizer, BOS is added as in training, size within the shipping limit (fast: memory-mapped)."""

from pathlib import Path

from llada_studio.core.checkpoint import load_checkpoint
from llada_studio.core.tokenizer import Tokenizer

MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "llada-studio-tiny"


def test_bundled_model_loads_and_ids_agree():
    ckpt = load_checkpoint(MODEL)
    cfg = ckpt.config
    assert ckpt.weight_dtype == "bf16"
    assert 15_000_000 <= ckpt.num_parameters <= 30_000_000
    assert sum(f.stat().st_size for f in MODEL.iterdir() if f.is_file()) <= 60_000_000
    tok = Tokenizer(MODEL)
    assert tok.vocab_size == cfg.vocab_size == 8192
    assert tok.token_to_id("<|mdm_mask|>") == cfg.mask_token_id
    assert tok.token_to_id("<|endoftext|>") == cfg.eos_token_id == cfg.pad_token_id
    assert tok.token_to_id("<|eot_id|>") == cfg.eot_token_id
    assert tok.token_to_id("<|startoftext|>") == cfg.bos_token_id
    for name in ("<|start_header_id|>", "<|end_header_id|>"):
        assert tok.token_to_id(name) is not None
    assert not tok.has_chat_template
    ids = tok.encode('"Oh, Mr. Darcy!" said she--quite surprised.')
    assert ids[0] == cfg.bos_token_id
    assert tok.decode(ids) == '"Oh, Mr. Darcy!" said she--quite surprised.'
    assert (MODEL / "MODEL_CARD.md").is_file() and ckpt.license
