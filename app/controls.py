"""The sampler controls: sliders that offer only valid values, presets, and the request they build.

Labels and tooltips come from the parameters' declarations in core.params. The everyday controls
come first; the expert ones (decoding, threshold, factor, KV cache, the EOS options) sit under a
collapsed "Advanced" section.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from llada_studio.core.params import (
    CACHE_MODES,
    DECODING_MODES,
    REMASKING_MODES,
    GenerationParams,
    plural,
)

from .choice_slider import ChoiceSlider, describe  # noqa: F401 - describe: the panels' import
from .control_specs import (  # noqa: F401 - names the tests and the window use
    CACHE_LABELS,
    CACHE_TIPS,
    CFG_SCALES,
    CONTROL_SPECS,
    CUSTOM,
    DECODING_LABELS,
    DECODING_TIPS,
    FACTORS,
    GEN_LENGTHS,
    PRESET_DEFAULTS,
    PRESET_TIPS,
    PRESETS,
    REMASKING_LABELS,
    REMASKING_TIPS,
    SEED_MAX,
    SPEC,
    TEMPERATURES,
    THRESHOLDS,
    ControlSpec,
    block_length_choices,
    divisors,
    step_choices,
)
from .pinned_words import PINNED_LABEL, PinnedWordsField


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
        self.pins = PinnedWordsField(PINNED_LABEL, s["constraints"].tip)
        self.summary = QLabel()
        self._summary_note: str | None = None  # set_summary_note
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
        form.addRow(PINNED_LABEL, self.pins)
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
        self.pins.edited.connect(self._on_edit)
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
            constraints=self.pins.valid_text(),  # a list with a syntax error is left out (run refused)
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
            if "constraints" in d:
                self.pins.set_text(str(d["constraints"] or ""))
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

    def set_summary_note(self, note: str | None) -> None:
        """Show `note` instead of the schedule summary (a fill-blanks run makes its own schedule);
        None: the summary of the settings again."""
        self._summary_note = note
        self._update_summary()

    def _update_summary(self) -> None:
        self._update_enabled()
        if self._summary_note:
            self.summary.setText(self._summary_note)
            return
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
        settings.setValue("constraints", self.pins.text())  # as typed, a list still being fixed too
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
                 "decoding": str, "threshold": float, "factor": float, "cache": str, "constraints": str}
        for k, t in types.items():
            if k in keys:
                try:
                    value = settings.value(k, type=t)
                except (TypeError, ValueError, OverflowError):
                    continue  # unreadable: the control keeps its value
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                if k == "seed" and not (isinstance(value, int) and 0 <= value <= SEED_MAX):
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
        for k, v in values.items():
            have = cur.get(k)
            if isinstance(v, float) and isinstance(have, (int, float)):
                if abs(have - v) >= 1e-9:
                    return False
            elif have != v:
                return False
        return True
