"""Throughput of ClassifyPHI: rule evidence alone, and the NER path batched versus one region per forward pass.

The NER model is a randomly initialised BERT-base-sized token classifier built from a config (no download): the
same shape and cost as ``StanfordAIMI/stanford-deidentifier-base`` (BERT base), with meaningless outputs. Only
timings are reported.

    PYTHONPATH=$PWD python benchmarks/bench_classify_phi.py [--device cpu|cuda] [--repeats 3] [--regions N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_phi_table import ROWS, synthetic_header

from monai_deid.phi import ClassifyPHI
from monai_deid.regions import TextRegion

LABELS = ["O", "VENDOR", "DATE", "HCW", "HOSPITAL", "ID", "PATIENT", "PHONE"]


def _bert_base(path: Path) -> Path:
    words = sorted({w.lower() for text, _ in ROWS for w in text.split()})
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=len(tokenizer), id2label=dict(enumerate(LABELS)))
    BertForTokenClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _time(classifier: ClassifyPHI, regions: list[TextRegion], repeats: int) -> float:
    header = synthetic_header()
    classifier(regions[:4], header)  # load the model, warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        classifier(regions, header)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return len(regions) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--regions", type=int, default=len(ROWS), help="how many table rows to classify")
    args = parser.parse_args()
    regions = [TextRegion((0,), (0, 0, 1, 1), text, 0.9) for text, _ in ROWS[: args.regions]]
    print(f"{len(regions)} regions, torch threads {torch.get_num_threads()}, device {args.device}")
    rules = _time(ClassifyPHI(ner_model=None), regions, args.repeats)
    print(f"rules only (header, patterns, allowlist, line context): {rules:9.1f} regions/s")
    with tempfile.TemporaryDirectory() as tmp:
        model = _bert_base(Path(tmp))
        single = _time(ClassifyPHI(ner_model=model, device=args.device, ner_batch_size=1), regions, args.repeats)
        batched = _time(ClassifyPHI(ner_model=model, device=args.device, ner_batch_size=32), regions, args.repeats)
    print(f"with BERT-base NER, batch 1 (baseline):                {single:9.1f} regions/s")
    print(f"with BERT-base NER, batch 32:                          {batched:9.1f} regions/s ({batched / single:.2f}x)")


if __name__ == "__main__":
    main()
