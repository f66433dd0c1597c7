"""The controls panel: every control changes the request, only valid combinations exist, presets."""

import pytest
from PySide6.QtCore import QSettings

from llada_studio.app.controls import (
    CUSTOM,
    GEN_LENGTHS,
    PRESETS,
    ControlsPanel,
    block_length_choices,
    step_choices,
)
from llada_studio.core.params import CACHE_MODES, DECODING_MODES, REMASKING_MODES, GenerationParams


@pytest.fixture
def panel(qtbot):  # noqa: ANN001, ANN201
    p = ControlsPanel()
    qtbot.addWidget(p)
    return p


def _index_of(slider, value) -> int:  # noqa: ANN001
    return slider.values().index(value)


def test_every_control_changes_the_request(panel: ControlsPanel) -> None:
    base = panel.params()
    changes = []

    def check(field: str, act) -> None:  # noqa: ANN001
        before = getattr(panel.params(), field)
        act()
        after = getattr(panel.params(), field)
        assert after != before, f"{field} did not change"
        changes.append(field)

    check("gen_length", lambda: panel.gen_length.slider.setValue(_index_of(panel.gen_length, 256)))
    check("block_length", lambda: panel.block_length.slider.setValue(_index_of(panel.block_length, 64)))
    check("max_steps", lambda: panel.max_steps.slider.setValue(panel.max_steps.slider.value() + 1))
    check("temperature", lambda: panel.temperature.slider.setValue(panel.temperature.slider.value() + 10))
    check("cfg_scale", lambda: panel.cfg_scale.slider.setValue(panel.cfg_scale.slider.value() + 2))
    for mode in REMASKING_MODES[1:]:
        check("remasking", lambda m=mode: panel.remasking.setCurrentIndex(panel.remasking.findData(m)))
    check("seed", lambda: panel.seed.setValue(1234))
    check("logits_eos_inf", lambda: panel.logits_eos_inf.setChecked(True))
    check("confidence_eos_eot_inf", lambda: panel.confidence_eos_eot_inf.setChecked(True))
    for mode in DECODING_MODES[1:]:
        check("decoding", lambda m=mode: panel.decoding.setCurrentIndex(panel.decoding.findData(m)))
    check("factor", lambda: panel.factor.slider.setValue(panel.factor.slider.value() + 1))
    panel.decoding.setCurrentIndex(panel.decoding.findData("threshold"))
    check("threshold", lambda: panel.threshold.slider.setValue(panel.threshold.slider.value() - 2))
    for mode in CACHE_MODES[1:]:
        check("cache", lambda m=mode: panel.cache.setCurrentIndex(panel.cache.findData(m)))
    p = panel.params()
    assert p != base
    assert (p.gen_length, p.block_length, p.seed) == (256, 64, 1234)
    assert p.temperature == pytest.approx(base.temperature + 0.5)
    assert p.cfg_scale == pytest.approx(base.cfg_scale + 0.5)
    assert p.remasking == REMASKING_MODES[-1]
    assert p.logits_eos_inf and p.confidence_eos_eot_inf
    assert (p.decoding, p.cache) == ("threshold", CACHE_MODES[-1])
    assert panel.preset.currentText() == CUSTOM  # any edit leaves the preset


def test_selectors_offer_every_mode(panel: ControlsPanel) -> None:
    for combo, modes in ((panel.remasking, REMASKING_MODES), (panel.decoding, DECODING_MODES),
                         (panel.cache, CACHE_MODES)):
        assert [combo.itemData(i) for i in range(combo.count())] == list(modes)


def test_parallel_decoding_enables_only_its_knob(panel: ControlsPanel) -> None:
    for mode, thr, fac, steps in (("fixed", False, False, True), ("threshold", True, False, False),
                                  ("factor", False, True, False)):
        panel.decoding.setCurrentIndex(panel.decoding.findData(mode))
        assert (panel.threshold.isEnabled(), panel.factor.isEnabled(), panel.max_steps.isEnabled()) == (thr, fac, steps)
    for v in panel.threshold.values():
        assert 0 < v <= 1
    assert min(panel.factor.values()) > 0


def test_only_valid_combinations_are_selectable(panel: ControlsPanel) -> None:
    for gi, gen in enumerate(panel.gen_length.values()):
        panel.gen_length.slider.setValue(gi)
        blocks = panel.block_length.values()
        assert blocks == block_length_choices(gen)
        assert all(gen % b == 0 for b in blocks)
        for bi in {0, len(blocks) // 2, len(blocks) - 1}:
            panel.block_length.slider.setValue(bi)
            steps = panel.max_steps.values()
            nb = gen // blocks[bi]
            assert steps == step_choices(gen, blocks[bi])
            assert all(s % nb == 0 for s in steps)
            for si in {0, len(steps) // 2, len(steps) - 1}:
                panel.max_steps.slider.setValue(si)
                panel.params().validate()  # every reachable position is a valid request


def test_changing_length_snaps_block_and_steps(panel: ControlsPanel) -> None:
    panel.set_params(dict(gen_length=128, block_length=32, max_steps=64))
    panel.gen_length.slider.setValue(_index_of(panel.gen_length, 96))
    p = panel.params()
    assert p.gen_length == 96 and 96 % p.block_length == 0 and p.max_steps % p.num_blocks == 0
    panel.gen_length.slider.setValue(_index_of(panel.gen_length, 48))
    p = panel.params()
    assert p.gen_length == 48 and 48 % p.block_length == 0 and p.max_steps % p.num_blocks == 0


def test_presets_set_their_values_and_editing_makes_custom(panel: ControlsPanel) -> None:
    assert set(PRESETS) >= {"Fast", "Balanced", "Quality", "Creative"}
    for name, values in PRESETS.items():
        panel.preset.setCurrentText(name)
        p = panel.params()
        for k, v in values.items():
            assert getattr(p, k) == pytest.approx(v), (name, k)
        assert panel.preset.currentText() == name
    panel.seed.setValue(31)  # presets leave the seed alone
    assert panel.preset.currentText() == name
    panel.temperature.slider.setValue(panel.temperature.slider.value() + 3)
    assert panel.preset.currentText() == CUSTOM
    panel.preset.setCurrentText("Turbo")
    panel.preset.setCurrentText("Fast")
    assert panel.params().decoding == "fixed" and panel.params().cache == "none"


def test_model_context_limits_the_length(panel: ControlsPanel) -> None:
    panel.set_max_gen_length(100)
    assert max(panel.gen_length.values()) <= 100
    assert panel.params().gen_length <= 100
    panel.set_max_gen_length(10_000)
    assert max(panel.gen_length.values()) == max(GEN_LENGTHS)


def test_controls_save_and_restore(qtbot, tmp_path) -> None:  # noqa: ANN001
    s = QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat)
    a = ControlsPanel()
    qtbot.addWidget(a)
    want = GenerationParams(max_steps=48, gen_length=96, block_length=32, temperature=0.35, cfg_scale=1.5,
                            remasking="margin", logits_eos_inf=True, confidence_eos_eot_inf=True, seed=77,
                            decoding="factor", factor=1.5, threshold=0.8, cache="dual")
    a.set_params(want)
    a.save(s)
    s.sync()
    b = ControlsPanel()
    qtbot.addWidget(b)
    b.restore(QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat))
    assert b.params() == want
