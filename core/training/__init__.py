"""Training recipe for the bundled model: corpus from registry packages, a byte-level BPE
tokenizer, LLaDA masked-diffusion pre-training, export and evaluation.

Reproduce everything with `python -m core.training.build_all --seed 0 --out work_data/`
followed by `python -m core.training.train` (see `core/training/README.md`)."""
