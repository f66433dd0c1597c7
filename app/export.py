"""What a finished run is saved as: a run file (core/run_file.py, the CLI's --json format) and
its plain text; and a saved run opened back into the window."""

from __future__ import annotations

from pathlib import Path

from llada_studio.core.events import GenerationResult
from llada_studio.core.run_file import RunRecord
from llada_studio.core.session import passage

from .worker import GenerationRequest, ModelInfo, RunOutcome


def run_passage(outcome: RunOutcome) -> str:
    """What "Copy" gives: the prompt and its continuation (a chat answer stands alone)."""
    if outcome.request.chat:
        return outcome.text.strip()
    return passage(outcome.request.prompt, outcome.text)


def record_of(o: RunOutcome) -> RunRecord:
    res, m = o.result, o.model
    return RunRecord(
        prompt=o.request.prompt,
        prompt_ids=tuple(o.prompt_ids),
        params=o.request.params,
        generated_ids=tuple(res.generated_ids[0]) if res.generated_ids else (),
        token_texts=tuple(o.token_texts),
        text=o.text,
        passage=run_passage(o),
        trajectory=tuple(res.trajectory),
        mask_id=m.mask_id,
        special_ids=(m.eos_id, m.eot_id),
        chat=o.request.chat,
        history=tuple(o.request.history),
        cancelled=res.cancelled,
        timings={k: float(v) for k, v in res.timings.items()},
        model={"name": m.name, "path": m.path, "license": m.license, "engine": m.engine, "threads": m.threads,
               "device": m.device},
        # How the run started and a branch's edits (issue 15: pinned words, infilling, edit and continue).
        answer_init=tuple(res.answer_init[0]) if res.answer_init else (),
        prompt_positions=tuple(res.prompt_positions[0]) if res.prompt_positions else (),
        edits=tuple(res.edits),
        token_table=dict(o.token_table),
    )


def outcome_of(record: RunRecord, run_id: int) -> RunOutcome:
    """A saved run as the window holds a finished one (its model need not be loaded)."""
    m = record.model
    eos, eot = (list(record.special_ids) + [-1, -1])[:2]
    info = ModelInfo(
        path=str(m.get("path", "")), name=str(m.get("name", "saved run")), engine=str(m.get("engine", "")),
        device=str(m.get("device", "")), threads=int(m.get("threads", 0) or 0), description="",
        license=m.get("license"), num_parameters=0, weight_dtype="", has_chat_template=record.chat,
        mask_id=record.mask_id, eos_id=eos, eot_id=eot, max_sequence_length=0, load_seconds=0.0,
    )
    request = GenerationRequest(run_id=run_id, prompt=record.prompt or "", params=record.params, chat=record.chat,
                                history=record.history)
    result = GenerationResult(generated_ids=(record.generated_ids,), trajectory=record.trajectory,
                              timings=dict(record.timings), cancelled=record.cancelled, texts=(record.text,),
                              answer_init=(record.answer_init,) if record.answer_init else (),
                              prompt_positions=(record.prompt_positions,) if record.prompt_positions else (),
                              edits=record.edits)
    return RunOutcome(run_id, request, record.prompt_ids, result, record.token_texts, info, dict(record.token_table))


def write_json(o: RunOutcome, path: str | Path) -> Path:
    return record_of(o).save(path)


def write_text(o: RunOutcome, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(run_passage(o) + "\n", encoding="utf-8")
    return p
