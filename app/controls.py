"""The sampler controls: sliders that offer only valid values, presets, and the request they build.

Labels and tooltips come from the parameters' declarations in core.params. The everyday controls
come first; the expert ones (decoding, threshold, factor, KV cache, the EOS options) sit under a
collapsed "Advanced" section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.params import (
    CACHE_MODES,
    DECODING_MODES,
    REMASKING_MODES,
    SPECS,
    GenerationParams,
    plural,
    recommended_params,
)

GEN_LENGTHS: tuple[int, ...] = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
TEMPERATURES: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(0, 41))  # 0 .. 2
CFG_SCALES: tuple[float, ...] = tuple(round(0.25 * i, 2) for i in range(0, 17))  # 0 .. 4
THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(0, 11))  # 0.5 .. 1
FACTORS: tuple[float, ...] = tuple(round(0.25 * i, 2) for i in range(1, 17))  # 0.25 .. 4
SEED_MAX = 2**31 - 1

REMASKING_LABELS = {
    "low_confidence": "Low confidence",
    "random": "Random",
    "margin": "Top-2 margin",
    "entropy": "Entropy",
}
REMASKING_TIPS = {
    "low_confidence": "Keep the tokens the model is most sure of; remask the rest (LLaDA's default).",
    "random": "Reveal randomly chosen positions each step.",
    "margin": "Keep tokens with the largest gap between the top two probabilities.",
    "entropy": "Keep tokens whose predictive distribution has the lowest entropy.",
}
DECODING_LABELS = {"fixed": "Fixed schedule", "threshold": "Parallel: threshold", "factor": "Parallel: factor"}
DECODING_TIPS = {
    "fixed": "The reference schedule: the steps are split evenly over the blocks.",
    "threshold": "Fast-dLLM: each step commits every proposal at least as confident as the threshold "
                 "(a block takes as many steps as it needs).",
    "factor": "Fast-dLLM: commit the n-th most confident proposal while its confidence >= 1 - factor/(n+1).",
}
CACHE_LABELS = {"none": "Off", "prefix": "Prefix", "dual": "Dual (prefix + suffix)"}
CACHE_TIPS = {
    "none": "Recompute the whole sequence every step (exact).",
    "prefix": "Reuse keys and values before the current block (Fast-dLLM; approximate, faster).",
    "dual": "Reuse keys and values before and after the current block (Fast-dLLM; fastest).",
}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def block_length_choices(gen_length: int) -> list[int]:
    """Block lengths that divide gen_length (so the generated region splits into whole blocks)."""
    return divisors(gen_length)


def step_choices(gen_length: int, block_length: int) -> list[int]:
    """Step counts that split evenly over the blocks, up to one token per step."""
    blocks = gen_length // block_length
    return list(range(blocks, gen_length + 1, blocks))


# Presets: named starting points. Values outside a model's range are snapped to the nearest valid.
# "Balanced" is the bundled model's tested default (its MODEL_CARD.md: over 20 held-out prompts,
# 98% of words in the English word list, distinct word 3-gram ratio 0.97); short blocks at
# temperature 1.0 keep confidence-ordered decoding out of loops.
PRESETS: dict[str, dict[str, Any]] = {
    "Fast": dict(gen_length=64, block_length=8, max_steps=32, temperature=1.0, cfg_scale=0.0,
                 remasking="low_confidence"),
    # The bundled model's tested default: the same values the command line starts from (core).
    "Balanced": {k: getattr(recommended_params(), k) for k in ("gen_length", "block_length", "max_steps",
                                                               "temperature", "cfg_scale", "remasking")},
    "Quality": dict(gen_length=128, block_length=8, max_steps=128, temperature=0.9, cfg_scale=0.0,
                    remasking="low_confidence"),
    "Creative": dict(gen_length=128, block_length=32, max_steps=128, temperature=1.0, cfg_scale=0.0,
                     remasking="random"),
    "Greedy": dict(gen_length=128, block_length=32, max_steps=128, temperature=0.0, cfg_scale=0.0,
                   remasking="low_confidence"),
    "Turbo": dict(gen_length=128, block_length=16, max_steps=128, temperature=1.0, cfg_scale=0.0,
                  remasking="low_confidence", decoding="factor", factor=4.0, cache="dual"),
}
# Presets that leave a field out get its default (so picking "Fast" after "Turbo" is not parallel).
PRESET_DEFAULTS: dict[str, Any] = dict(decoding="fixed", threshold=0.9, factor=1.0, cache="none")
PRESET_TIPS = {
    "Fast": "64 tokens in blocks of 8, 2 tokens revealed per step, temperature 1.0.",
    "Balanced": "128 tokens in blocks of 8, one token per step, temperature 1.0 (the bundled model's tested default).",
    "Quality": "128 tokens in blocks of 8, one token per step, temperature 0.9: fewer made-up words.",
    "Creative": "128 tokens in blocks of 32, random reveal order, temperature 1.0: never loops, more odd words.",
    "Greedy": "128 tokens in blocks of 32, one token per step, temperature 0: deterministic, as the reference.",
    "Turbo": "128 tokens in blocks of 16, parallel decoding (factor 4: 3 or more tokens per step) with the"
             " dual KV cache: about 7x faster than Balanced on the bundled model, a few more made-up words.",
}
CUSTOM = "Custom"


def describe(widget: QWidget, name: str, tip: str) -> QWidget:
    """Every control gets an accessible name (screen readers) and a tooltip."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip)
    return widget


class ChoiceSlider(QWidget):
    """A slider over an explicit list of values (ints or floats) with a value label.

    The slider's integer position indexes `values`, so only listed values can be chosen."""

    valueChanged = Signal(object)

    def __init__(self, name: str, tip: str, values: Sequence[Any], fmt: str = "{}", parent: QWidget | None = None):
        super().__init__(parent)
        self._values: list[Any] = list(values)
        self._fmt = fmt
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(1)
        self.label = QLabel()
        self.label.setMinimumWidth(44)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        describe(self.slider, name, tip)
        describe(self.label, f"{name} value", tip)
        self.setAccessibleName(name)
        self.setToolTip(tip)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.slider.setRange(0, max(0, len(self._values) - 1))
        self.slider.valueChanged.connect(self._moved)
        self._refresh_label()

    def values(self) -> list[Any]:
        return list(self._values)

    def value(self) -> Any:
        return self._values[self.slider.value()]

    def _nearest_index(self, value: Any) -> int:
        return min(range(len(self._values)), key=lambda i: (abs(self._values[i] - value), self._values[i]))

    def setValue(self, value: Any) -> None:
        self.slider.setValue(self._nearest_index(value))

    def setValues(self, values: Sequence[Any], keep: Any | None = None) -> None:
        """Replace the allowed values, keeping `keep` (or the current value) snapped to the nearest."""
        current = self.value() if keep is None else keep
        self._values = list(values)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self._values) - 1))
        self.slider.setValue(self._nearest_index(current))
        self.slider.blockSignals(False)
        self._refresh_label()

    def _moved(self, _index: int) -> None:
        self._refresh_label()
        self.valueChanged.emit(self.value())

    def _refresh_label(self) -> None:
        self.label.setText(self._fmt.format(self.value()))


@dataclass(frozen=True)
class ControlSpec:
    """A control's label and tooltip: the parameter's declaration in core.params, with the
    window's own longer tooltip where the command line's help is too terse."""

    key: str  # the GenerationParams field
    label: str
    tip: str


# Tooltips longer than the declaration's help (which the command line shows).
_TIPS = {
    "gen_length": "Generation length: how many tokens to generate (masked positions).",
    "block_length": "Semi-autoregressive block size. Only divisors of the generation length are offered.",
    "max_steps": "Sampling steps (forward passes). Only multiples of the number of blocks are offered; "
                 "fewer steps reveal more tokens per step.",
    "temperature": "Gumbel-noise temperature. 0 is greedy (deterministic).",
    "cfg_scale": "Classifier-free guidance strength. 0 turns it off; above 0 doubles the compute per step.",
    "remasking": "Which predicted tokens to keep each step; the rest are remasked.",
    "seed": "Random seed (for temperature > 0 and random remasking). A new one is drawn for every run "
            "unless “Keep” is ticked.",
    "logits_eos_inf": "Set the end-of-text logit to -inf so the model cannot end the text early.",
    "confidence_eos_eot_inf": "Give EOS/EOT tokens -inf confidence so they are revealed last.",
    "decoding": "How many tokens a step commits: a fixed schedule, or parallel decoding.",
    "threshold": "Parallel (threshold): commit proposals at least this confident.",
    "factor": "Parallel (factor): larger commits more tokens per step.",
    "cache": "Reuse attention keys and values across steps (faster, approximate).",
}
CONTROL_SPECS: tuple[ControlSpec, ...] = tuple(
    ControlSpec(p.name, p.label, _TIPS.get(p.name, p.help[:1].upper() + p.help[1:] + ".")) for p in SPECS
)
SPEC = {s.key: s for s in CONTROL_SPECS}


class ControlsPanel(QWidget):
    """The sampler settings. `params()` is the request they make; `changed` fires on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._max_gen_length = max(GEN_LENGTHS)
        self._applying_preset = False
        self.setAccessibleName("Sampler settings")
        self.setToolTip("Sampler settings for the next generation")

        self.preset = describe(QComboBox(), "Preset",
                               "Named settings. Changing a value the preset sets switches to Custom.")
        for name in PRESETS:
            self.preset.addItem(name)
            self.preset.setItemData(self.preset.count() - 1, PRESET_TIPS[name], Qt.ItemDataRole.ToolTipRole)
        self.preset.addItem(CUSTOM)

        s = SPEC
        self.gen_length = ChoiceSlider(s["gen_length"].label, s["gen_length"].tip, GEN_LENGTHS)
        self.block_length = ChoiceSlider(s["block_length"].label, s["block_length"].tip, block_length_choices(128))
        self.max_steps = ChoiceSlider(s["max_steps"].label, s["max_steps"].tip, step_choices(128, 128))
        self.temperature = ChoiceSlider(s["temperature"].label, s["temperature"].tip, TEMPERATURES, "{:.2f}")
        self.cfg_scale = ChoiceSlider(s["cfg_scale"].label, s["cfg_scale"].tip, CFG_SCALES, "{:.2f}")
        self.remasking = describe(QComboBox(), s["remasking"].label, s["remasking"].tip)
        for mode in REMASKING_MODES:
            self.remasking.addItem(REMASKING_LABELS.get(mode, mode), mode)
            self.remasking.setItemData(self.remasking.count() - 1, REMASKING_TIPS.get(mode, mode),
                                       Qt.ItemDataRole.ToolTipRole)
        self.seed = describe(QSpinBox(), s["seed"].label, s["seed"].tip)
        self.seed.setRange(0, SEED_MAX)
        self.seed_dice = describe(QToolButton(), "New random seed", "Pick a new random seed now")
        self.seed_dice.setText("New")
        self.seed_lock = describe(QCheckBox("Keep"), "Keep this seed",
                                  "Keep this seed for every run (same prompt and settings give the same text); "
                                  "unticked, every run draws a new seed")
        self.logits_eos_inf = describe(QCheckBox(s["logits_eos_inf"].label), s["logits_eos_inf"].label,
                                       s["logits_eos_inf"].tip)
        self.confidence_eos_eot_inf = describe(
            QCheckBox(s["confidence_eos_eot_inf"].label), s["confidence_eos_eot_inf"].label,
            s["confidence_eos_eot_inf"].tip,
        )
        self.decoding = describe(QComboBox(), s["decoding"].label, s["decoding"].tip)
        for mode in DECODING_MODES:
            self.decoding.addItem(DECODING_LABELS.get(mode, mode), mode)
            self.decoding.setItemData(self.decoding.count() - 1, DECODING_TIPS.get(mode, mode),
                                      Qt.ItemDataRole.ToolTipRole)
        self.threshold = ChoiceSlider(s["threshold"].label, s["threshold"].tip, THRESHOLDS, "{:.2f}")
        self.factor = ChoiceSlider(s["factor"].label, s["factor"].tip, FACTORS, "{:.2f}")
        self.cache = describe(QComboBox(), s["cache"].label, s["cache"].tip)
        for mode in CACHE_MODES:
            self.cache.addItem(CACHE_LABELS.get(mode, mode), mode)
            self.cache.setItemData(self.cache.count() - 1, CACHE_TIPS.get(mode, mode), Qt.ItemDataRole.ToolTipRole)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        describe(self.summary, "Schedule summary", "How the generation is split into blocks and steps.")

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Preset", self.preset)
        form.addRow(s["gen_length"].label, self.gen_length)
        form.addRow(s["block_length"].label, self.block_length)
        form.addRow(s["max_steps"].label, self.max_steps)
        form.addRow(s["temperature"].label, self.temperature)
        form.addRow(s["cfg_scale"].label, self.cfg_scale)
        form.addRow(s["remasking"].label, self.remasking)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_dice)
        seed_row.addWidget(self.seed_lock)
        form.addRow(s["seed"].label, seed_row)
        speed = QFormLayout()
        speed.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        speed.addRow(s["decoding"].label, self.decoding)
        speed.addRow(s["threshold"].label, self.threshold)
        speed.addRow(s["factor"].label, self.factor)
        speed.addRow(s["cache"].label, self.cache)
        self._speed_form = speed
        self.advanced_toggle = describe(QToolButton(), "Advanced settings",
                                        "Show or hide the expert settings: parallel decoding, KV cache, EOS options")
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setObjectName("advancedToggle")
        self.advanced = QWidget()
        self.advanced.setAccessibleName("Advanced settings")
        adv = QVBoxLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        adv.addLayout(speed)
        adv.addWidget(self.logits_eos_inf)
        adv.addWidget(self.confidence_eos_eot_inf)
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self.show_advanced)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addSpacing(6)
        lay.addWidget(self.advanced_toggle)
        lay.addWidget(self.advanced)
        lay.addStretch(1)

        self.gen_length.setValue(128)
        self._constrain()
        self.gen_length.valueChanged.connect(self._on_structure)
        self.block_length.valueChanged.connect(self._on_structure)
        for w in (self.max_steps, self.temperature, self.cfg_scale, self.threshold, self.factor):
            w.valueChanged.connect(self._on_edit)
        self.remasking.currentIndexChanged.connect(self._on_edit)
        self.decoding.currentIndexChanged.connect(self._on_edit)
        self.cache.currentIndexChanged.connect(self._on_edit)
        self.seed.valueChanged.connect(self._on_edit)
        self.logits_eos_inf.toggled.connect(self._on_edit)
        self.confidence_eos_eot_inf.toggled.connect(self._on_edit)
        self.preset.currentTextChanged.connect(self._on_preset)
        self.seed_dice.clicked.connect(self._new_seed)
        self.apply_preset("Balanced")

    def show_advanced(self, shown: bool) -> None:
        self.advanced_toggle.setChecked(shown)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.advanced.setVisible(shown)

    def next_seed(self) -> int:
        """The seed for the next run: a new one unless the seed is kept."""
        if not self.seed_lock.isChecked():
            self.draw_seed()
        return int(self.seed.value())

    def draw_seed(self) -> None:
        self._new_seed()

    # -- the request -------------------------------------------------------------------------
    def params(self) -> GenerationParams:
        return GenerationParams(
            max_steps=int(self.max_steps.value()),
            gen_length=int(self.gen_length.value()),
            block_length=int(self.block_length.value()),
            temperature=float(self.temperature.value()),
            cfg_scale=float(self.cfg_scale.value()),
            remasking=str(self.remasking.currentData()),
            logits_eos_inf=self.logits_eos_inf.isChecked(),
            confidence_eos_eot_inf=self.confidence_eos_eot_inf.isChecked(),
            seed=int(self.seed.value()),
            decoding=str(self.decoding.currentData()),
            threshold=float(self.threshold.value()),
            factor=float(self.factor.value()),
            cache=str(self.cache.currentData()),
        )

    def set_params(self, p: GenerationParams | dict[str, Any]) -> None:
        """Show these settings (snapped to what the controls offer)."""
        d = p.to_dict() if isinstance(p, GenerationParams) else dict(p)
        self._applying_preset = True
        try:
            if "gen_length" in d:
                self.gen_length.setValues(self._gen_lengths(), keep=int(d["gen_length"]))
            self._constrain(block=d.get("block_length"), steps=d.get("max_steps"))
            if "temperature" in d:
                self.temperature.setValue(float(d["temperature"]))
            if "cfg_scale" in d:
                self.cfg_scale.setValue(float(d["cfg_scale"]))
            for key, combo in (("remasking", self.remasking), ("decoding", self.decoding), ("cache", self.cache)):
                if key in d:
                    i = combo.findData(d[key])
                    if i >= 0:
                        combo.setCurrentIndex(i)
            if "threshold" in d:
                self.threshold.setValue(float(d["threshold"]))
            if "factor" in d:
                self.factor.setValue(float(d["factor"]))
            if "seed" in d:  # the spin box holds 31 bits; a larger seed is taken modulo its range
                self.seed.setValue(int(d["seed"]) % (SEED_MAX + 1))
            if "logits_eos_inf" in d:
                self.logits_eos_inf.setChecked(bool(d["logits_eos_inf"]))
            if "confidence_eos_eot_inf" in d:
                self.confidence_eos_eot_inf.setChecked(bool(d["confidence_eos_eot_inf"]))
        finally:
            self._applying_preset = False
        self._name_preset()  # values set from outside name their preset, or Custom
        self._update_summary()
        self.changed.emit()

    def apply_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        self.set_params({**PRESET_DEFAULTS, **PRESETS[name]})
        self.preset.blockSignals(True)
        self.preset.setCurrentText(name)
        self.preset.blockSignals(False)

    def set_max_gen_length(self, limit: int) -> None:
        """Offer only lengths that fit the model's context (leaving room for a prompt)."""
        self._max_gen_length = max(GEN_LENGTHS[0], limit)
        self.gen_length.setValues(self._gen_lengths())
        self._constrain()

    def _gen_lengths(self) -> list[int]:
        return [g for g in GEN_LENGTHS if g <= self._max_gen_length] or [GEN_LENGTHS[0]]

    # -- keeping combinations valid -------------------------------------------------------
    def _constrain(self, block: int | None = None, steps: int | None = None) -> None:
        gen = int(self.gen_length.value())
        self.block_length.setValues(block_length_choices(gen), keep=block)
        blk = int(self.block_length.value())
        self.max_steps.setValues(step_choices(gen, blk), keep=steps)

    def _on_structure(self, _value: Any) -> None:
        self._constrain()
        self._on_edit()

    def _update_enabled(self) -> None:
        mode = self.decoding.currentData()
        self.threshold.setEnabled(mode == "threshold")
        self.factor.setEnabled(mode == "factor")
        self.max_steps.setEnabled(mode == "fixed")  # parallel decoding takes as many steps as it needs

    def _on_edit(self, *_args: Any) -> None:
        self._update_enabled()
        if self._applying_preset:
            return
        name = self.preset.currentText()
        if name in PRESETS and not self._matches({**PRESET_DEFAULTS, **PRESETS[name]}):
            self.preset.blockSignals(True)
            self.preset.setCurrentText(CUSTOM)  # the settings no longer are the preset's
            self.preset.blockSignals(False)
        self._update_summary()
        self.changed.emit()

    def _on_preset(self, name: str) -> None:
        if name in PRESETS:
            self.apply_preset(name)

    def _new_seed(self) -> None:
        import random

        self.seed.blockSignals(True)  # a drawn seed does not make the preset "Custom"
        self.seed.setValue(random.randint(0, 99_999))
        self.seed.blockSignals(False)

    def _update_summary(self) -> None:
        self._update_enabled()
        p = self.params()
        blocks = f"{plural(p.num_blocks, 'block')} of {plural(p.block_length, 'token')}"
        if p.decoding == "fixed":
            per_step = p.gen_length / p.max_steps
            text = f"{blocks}, {plural(p.steps_per_block, 'step')} each · {plural(per_step, 'token')} per step"
        else:
            text = f"{blocks}, as many steps as each block needs (at most {p.gen_length} in all)"
        if p.cache != "none":
            text += f" · {p.cache} KV cache"
        if p.cfg_scale > 0:
            text += " · CFG doubles each step"
        self.summary.setText(text)

    # -- QSettings -----------------------------------------------------------------------
    def save(self, settings: QSettings, group: str = "params") -> None:
        p = self.params()
        settings.beginGroup(group)
        for k, v in p.to_dict().items():
            if k != "mask_id":
                settings.setValue(k, v)
        settings.endGroup()
        settings.setValue("preset", self.preset.currentText())
        settings.setValue("seed_locked", self.seed_lock.isChecked())
        settings.setValue("advanced_shown", self.advanced_toggle.isChecked())

    def restore(self, settings: QSettings, group: str = "params") -> None:
        settings.beginGroup(group)
        keys = set(settings.childKeys())
        d: dict[str, Any] = {}
        types = {"max_steps": int, "gen_length": int, "block_length": int, "seed": int,
                 "temperature": float, "cfg_scale": float, "remasking": str,
                 "logits_eos_inf": bool, "confidence_eos_eot_inf": bool,
                 "decoding": str, "threshold": float, "factor": float, "cache": str}
        for k, t in types.items():
            if k in keys:
                try:
                    value = settings.value(k, type=t)
                except (TypeError, ValueError, OverflowError):
                    continue  # unreadable: the control keeps its value
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                if k == "seed" and not 0 <= value <= SEED_MAX:
                    continue
                d[k] = value
        settings.endGroup()
        preset = str(settings.value("preset", "", type=str) or "")
        self.seed_lock.setChecked(bool(settings.value("seed_locked", False, type=bool)))
        self.show_advanced(bool(settings.value("advanced_shown", False, type=bool)))
        if d:
            self.set_params(d)
        if preset in PRESETS and (not d or self._matches({**PRESET_DEFAULTS, **PRESETS[preset]})):
            self.apply_preset(preset)
        else:
            self._name_preset()

    def _name_preset(self) -> None:
        """Show the preset the values equal (the seed aside), else Custom: a first launch, with
        nothing saved, shows "Balanced" because its values are Balanced's."""
        match = next((n for n in PRESETS if self._matches({**PRESET_DEFAULTS, **PRESETS[n]})), CUSTOM)
        self.preset.blockSignals(True)
        self.preset.setCurrentText(match)
        self.preset.blockSignals(False)

    def _matches(self, values: dict[str, Any]) -> bool:
        cur = self.params().to_dict()
        return all(abs(cur.get(k) - v) < 1e-9 if isinstance(v, float) else cur.get(k) == v
                   for k, v in values.items())
