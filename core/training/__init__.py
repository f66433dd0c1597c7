"""Training recipe for the bundled model: corpus from registry packages, a byte-level BPE
tokenizer, LLaDA masked-diffusion pre-training, export and evaluation.

Reproduce everything with `python -m core.training.build_all --seed 0 --out work_data/`
then `python -m core.training.device_job` on a GPU and `python -m core.training.export`
(the model card in resources/models/llada-studio-tiny/ gives the exact commands)."""
