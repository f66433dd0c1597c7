"""Fuzz tokenizer_config.json (issue 17): chat templates that fail to compile, raise, loop, blow
up their output or try to escape the jinja2 sandbox, and special-token fields of wrong types,
each written into a copy of a tiny checkpoint, opened with load_checkpoint and, when it opens,
rendered on a few conversations (apply_chat_template, encode_chat, ChatConversation).

The only clear outcomes: a CheckpointError naming tokenizer_config.json at open (or config.json,
when its special-token ids disagree with the tokenizer's tokens), a ValueError from
apply_chat_template (a conversation the template refuses), or success. A finding is any other
exception, a hang (no answer in --timeout s), or a peak resident memory more than 300 MB above
where it was before the input.

Inputs: templates built from fragments (harmless, raising, looping, output bombs, sandbox escapes,
Hugging Face helpers) in random combinations and nestings, byte-level mutations of the real
template, and JSON-aware mutations of every field (tests/fuzz/fuzz_loader.py's nasty values).

    python3 tests/fuzz/fuzz_tokenizer.py --seconds 30 --seed 17      (what CI runs)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_loader  # noqa: E402  (its nasty values and JSON mutations)

MEMORY_LIMIT_MB = 300

HARMLESS = [
    "{{ m['content'] }}", "{{ bos_token }}", "{{ eos_token }}", "{% if add_generation_prompt %}<a>{% endif %}",
    "{{ m.role }}", "{{ messages|length }}", "{{ m|tojson }}", "{{ strftime_now('%Y-%m-%d') }}",
    "{{ loop.index }}", "{% if loop.last %}{% break %}{% endif %}", "{% continue %}", "x\n",
    "{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}", "{{ m['content'] | trim }}",
    "{%- if m['role'] == 'system' -%}{{ raise_exception('no system') }}{%- endif -%}",
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' }}", "{# a comment #}",
    "{{ messages[0]['content'][:3] }}", "{{ m.content|length * 2 }}", "{{ range(3)|list|tojson }}",
]
RAISING = [
    "{{ raise_exception('x') }}", "{{ 1/0 }}", "{{ messages[9].content }}", "{{ m.content + 1 }}",
    "{{ undefined_fn() }}", "{% include 'x' %}", "{% extends 'base' %}", "{% import 'x' as y %}",
    "{% from 'x' import y %}", "{{ strftime_now(5) }}", "{{ raise_exception(messages) }}",
    "{{ m|tojson(indent='x') }}", "{{ range(10)|tojson }}", "{{ m|tojson(5, 6, 7, 8) }}", "{{ 1 // 0 }}",
    "{{ [1][5] }}", "{{ {}['k'] }}", "{{ none.x.y }}", "{{ 'a'|int(base=99) }}", "{{ 'x'|batch(0)|list }}",
    "{{ 'x'|slice(0)|list }}", "{{ messages|sum }}", "{{ messages|map('nofilter')|list }}", "{{ 1 is nosuchtest }}",
    "{{ 'x'|nosuchfilter }}", "{{ strftime_now('%') }}", "{{ raise_exception() }}", "{{ (2**1024) * 1.0 }}",
    "{{ m['content']|float + [] }}", "{{ messages|selectattr('x', 'nosuchtest')|list }}", "{{ range(-1, 1, 0) }}",
    "{% set x = 1 %}{% set x.a = 2 %}", "{{ namespace(a=1).b.c }}", "{{ lipsum(n=-1) }}", "{{ cycler()|list }}",
]
LOOPING = [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f(n) %}{{ f(n + 1) ~ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "{% set s = 'x' * 4000000 %}{% for c in s %}{% for d in s %}{% endfor %}{% endfor %}",
    "{% for i in range(99999) %}{% for m in messages %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    "{% endfor %}",
    "{% set s = 'x' * 4000000 %}{% for i in range(1000) %}{{ s }}{% endfor %}",
    "{% for i in range(100000) %}{% set ns = namespace(a=range(100000)|list) %}{% endfor %}",
    "{% for i in range(100000) %}{{ range(100000)|sum }}{% endfor %}",
    "{% for i in (range(100000)|list) * 40 %}{% endfor %}{% for j in range(100000) %}{% endfor %}",
    "{% set s = ('x' * 4000000)|list %}{% for a in s %}{{ a if loop.index > 10**9 }}{% endfor %}"
    "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
]
BOMBS = [
    "{{ 'x' * 10**7 }}", "{{ 'x'|center(1000000000) }}", "{{ '%999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}",
    "{{ ('a' * 400000).replace('a', 'a' * 4000) }}", "{{ (['x' * 4000000] * 1000)|join }}",
    "{{ ('x\\n' * 1000000)|indent(1000) }}", "{{ 'x'.ljust(2**40) }}", "{{ 'x'.zfill(1000000000) }}",
    "{{ 9**9**9 }}", "{{ 'x'|truncate(2**62) }}", "{{ '%-999999999s'|format('a') }}",
    "{{ ('x' * 4000000) ~ ('y' * 4000000) }}", "{{ 'x'.center(999999999) }}", "{{ 'x'.rjust(999999999) }}",
    "{{ ('\\t' * 4000000).expandtabs(1000) }}", "{{ (range(100000)|list * 40)|join('xxxxxxxxxx') }}",
    "{{ [('x' * 4000000)] * 4000000 }}", "{{ (('x' * 4000000)|list)|join(',' * 1000) }}",
    "{{ 'x'|wordwrap(1, wrapstring='y' * 4000000) }}", "{{ (('ab' * 2000000)|list)|join('x' * 100) }}",
    "{{ '{0:{1}}'.format('x', 999999999) }}", "{{ '%*d' % (999999999, 1) }}", "{{ '{:,}'.format(10**4000) }}",
    "{{ 10**4000 }}", "{{ (10**1000)|string * 3000 }}", "{{ 'x'|replace('x', 'y' * 4000000, 2) * 2 }}",
    "{{ ('x' * 4000000)|replace('x', 'yy') }}", "{{ ('x' * 4000000)|urlencode }}",
    "{{ ('<' * 4000000)|escape }}", "{{ ('x' * 4000000)|title|upper|reverse }}",
]
ESCAPES = [
    "{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__.os }}", "{{ self.__init__ }}",
    "{{ lipsum.__globals__['os'] }}", "{{ joiner.__init__.__globals__ }}", "{{ namespace.__init__.__globals__ }}",
    "{{ raise_exception.__globals__ }}", "{{ strftime_now.__globals__['datetime'] }}", "{{ ''|attr('__class__') }}",
    "{{ messages.pop() }}", "{{ m.update({'a': 1}) }}", "{{ config }}", "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__ }}", "{{ 'a'.format_map({}) }}", "{{ '{0.__class__}'.format(1) }}",
    "{{ '{0.__globals__}'.format(raise_exception) }}", "{{ messages.__class__.__init__ }}",
    "{{ m.__class__.__dict__ }}", "{{ (1).__class__.__subclasses__() }}", "{{ self._TemplateReference__context }}",
    "{{ range.__self__ }}", "{{ m.items().__class__ }}", "{{ ''.__doc__ }}", "{{ 'x'.__len__() }}",
    "{{ messages.clear() }}", "{% set _ = messages.append(1) %}", "{{ m.setdefault('x', 1) }}",
    "{{ namespace(a=1).__dict__ }}", "{{ (m|list).__iter__ }}", "{{ '%(x)s'|format(x=m.__class__) }}",
    "{{ strftime_now.__code__ }}", "{{ raise_exception.__closure__ }}", "{{ loop.__class__ }}",
]
CONTENTS = ["Hello", "", "x" * 100_000, "{{ 1 }}", "{% for %}", "a\0b", "é\u202e\ud7ff", "</s><|eot_id|>" * 10]


class Hang(BaseException):
    pass


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise Hang()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def random_template(rng: random.Random) -> str:
    pools = [HARMLESS] * 3 + [RAISING, LOOPING, BOMBS, ESCAPES]
    parts = [rng.choice(rng.choice(pools)) for _ in range(rng.choice([1, 1, 2, 3, 5]))]
    body = "".join(parts)
    roll = rng.random()
    if roll < 0.5:
        body = "{% for m in messages %}" + body + "{% endfor %}"
    elif roll < 0.6:
        body = "{% if messages|length > 1 %}" + body + "{% endif %}ok"
    elif roll < 0.7:
        body = "{% for m in messages %}{% if m['role'] == 'system' %}" + body + "{% endif %}{{ m.content }}{% endfor %}"
    if rng.random() < 0.1:  # cut somewhere: a template that does not compile
        body = body[: rng.randrange(len(body) + 1)]
    return body


class Harness:
    def __init__(self, work: Path) -> None:
        from llada_studio.core.checkpoint_writer import random_checkpoint

        small: dict[str, Any] = dict(n_layers=1, d_model=32, n_heads=2, mlp_hidden_size=48, vocab_size=64)
        self.folder = random_checkpoint(work / "chat", **small)
        self.path = self.folder / "tokenizer_config.json"
        self.original = self.path.read_bytes()
        self.doc = json.loads(self.original)

    def mutate(self, rng: random.Random) -> bytes:
        doc = dict(self.doc)
        roll = rng.random()
        if roll < 0.55:
            doc["chat_template"] = random_template(rng)
        elif roll < 0.65:
            doc["chat_template"] = fuzz_loader._mutate_bytes(rng, str(self.doc["chat_template"]).encode()).decode(
                "utf-8", "replace")
        elif roll < 0.75:
            named = [{"name": rng.choice(["default", "tool_use", None, [], {}, 5, "x" * 300]),
                      "template": rng.choice([random_template(rng), 5, None, [], {"a": 1}])}
                     for _ in range(rng.choice([0, 1, 2]))]
            doc["chat_template"] = rng.choice([named, named + [rng.choice(fuzz_loader.NASTY)], [named]])
        elif roll < 0.9:
            key = rng.choice(["bos_token", "eos_token", "add_bos_token", "pad_token", "chat_template",
                              "add_eos_token", "model_max_length", "added_tokens_decoder", "unk_token"])
            doc[key] = rng.choice(fuzz_loader.NASTY + [{"content": rng.choice(fuzz_loader.NASTY)},
                                                       {"content": "<|eot_id|>", "x": []}, "false", "true", 2])
        else:
            return fuzz_loader._dump(rng, fuzz_loader._mutate_json(rng, doc))
        return json.dumps(doc, allow_nan=True).encode()

    def run(self, rng: random.Random, data: bytes) -> None:
        """Raises only what is a finding."""
        from llada_studio.core.checkpoint import load_checkpoint
        from llada_studio.core.errors import CheckpointError
        from llada_studio.core.tokenizer import ChatConversation

        self.path.write_bytes(data)
        try:
            try:
                tok = load_checkpoint(self.folder).tokenizer
            except CheckpointError as exc:
                # config.json's special ids checked against the tokenizer's tokens name config.json
                if "tokenizer_config.json" not in exc.path and "the tokenizer" not in exc.problem:
                    raise AssertionError(f"the error names {exc.path}, not tokenizer_config.json") from exc
                return
            tok.encode("hello world", add_bos=None)
            if not tok.has_chat_template:
                return
            content = rng.choice(CONTENTS)
            for messages in (
                [{"role": "user", "content": content}],
                [{"role": "system", "content": content}, {"role": "user", "content": "Hi"}],
                [{"role": "user", "content": "a"}, {"role": "assistant", "content": content},
                 {"role": "user", "content": "b"}],
            ):
                with contextlib.suppress(ValueError):
                    tok.encode_chat(messages)
            with contextlib.suppress(ValueError):
                conv = ChatConversation(tok, drop_ids={1})
                ids = conv.prompt_ids(content)
                conv.add_turn(content, ids, [3, 4, 1])
                conv.prompt_ids("again")
        finally:
            self.path.write_bytes(self.original)


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {where}"


def python_loop(harness: Harness, seconds: float, seed: int, findings: Path, max_inputs: int | None = None,
                timeout: float = 10.0) -> dict[str, Any]:
    rng = random.Random(seed)
    start = time.monotonic()
    tried = 0
    found: dict[str, str] = {}

    def finding(sig: str, data: bytes, text: str) -> None:
        if sig in found:
            return
        found[sig] = text
        findings.mkdir(parents=True, exist_ok=True)
        stem = f"tokcfg-{len(found):03d}"
        (findings / f"{stem}.json").write_bytes(data)
        (findings / f"{stem}.txt").write_text(f"{sig}\n\n{text}")
        print(f"FINDING {sig}", flush=True)

    while time.monotonic() - start < seconds and (max_inputs is None or tried < max_inputs):
        data = harness.mutate(rng)
        tried += 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.monotonic()
        try:
            with watchdog(timeout):
                harness.run(rng, data)
        except Hang:
            finding("hang", data, f"no answer in {timeout} s")
        except Exception as exc:  # a finding
            finding(_signature(exc), data, traceback.format_exc(limit=-6))
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak
        if grown > MEMORY_LIMIT_MB:
            finding(f"memory +{grown:.0f} MB", data, f"peak resident memory grew by {grown:.0f} MB in "
                    f"{time.monotonic() - t0:.1f} s")
    return {"inputs": tried, "seconds": round(time.monotonic() - start, 1), "findings": sorted(found)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--findings", type=Path, default=Path(__file__).with_name("findings"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fuzz-tokenizer-"))
    try:
        report = python_loop(Harness(work), args.seconds, args.seed, args.findings, timeout=args.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fuzz_tokenizer: {json.dumps(report)}")
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
