"""The kernel variant named after a format's @ in the quantized benchmarks (bench_quant.py,
bench_quant_kernels.py): an ISA of the quantized kernels (`q8_0@avx512vnni`: `_engine.set_quant_isa`),
`nogemm` (`bf16@nogemm`, `q8_0@nogemm`: the CPU's best ISA with the many-row AMX-BF16 path of
csrc/amx_gemm.* turned off, so its gain is timed side by side with the kernels before it) or
`noamx` (`bf16@noamx`, `q8_0@noamx`: no AMX at all, bf16 on AVX512-BF16 and the quantized formats
on AVX512-VNNI: what a CPU with AVX-512 but without AMX runs). Set before each of a variant's runs;
`reset` puts the CPU's best and the default thresholds back."""

from __future__ import annotations

from llada_studio.core.cpp_engine import _engine

NO_GEMM = "nogemm"
NO_AMX = "noamx"
_BEST = _engine.quant_isa()
_BEST_BF16 = _engine.bf16_isa()
_ROWS = (_engine.amx_gemm_rows("bf16"), _engine.amx_gemm_rows("q8_0"))


def variant_of(fmt: str) -> str:
    """The part after the @ ('' for none)."""
    return fmt.partition("@")[2]


def use(variant: str) -> bool:
    """Pick the variant; False if this CPU or build lacks it."""
    if variant == NO_AMX:
        _engine.set_amx_gemm_rows(0, 0)
        return _engine.set_bf16_isa("avx512") and _engine.set_quant_isa("avx512vnni")
    _engine.set_bf16_isa(_BEST_BF16)
    if variant == NO_GEMM:
        _engine.set_amx_gemm_rows(0, 0)
        return _engine.set_quant_isa(_BEST)
    _engine.set_amx_gemm_rows(*_ROWS)
    return _engine.set_quant_isa(variant or _BEST)


def check(formats: list[str] | tuple[str, ...]) -> None:
    """Exit with the reason if a format names a variant this CPU lacks."""
    for f in formats:
        if not use(variant_of(f)):
            raise SystemExit(f"{f}: the kernel variant {variant_of(f)!r} is not available on this CPU")
    reset()


def reset() -> None:
    use("")
