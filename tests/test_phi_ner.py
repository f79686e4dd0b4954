"""NER evidence with a real, tiny token-classification model built and saved by the test (no download)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

from monai_deid.phi import ClassifyPHI, ClassifyPHId, NerLabelError, NerTagger, find_phi_spans
from monai_deid.regions import TextRegion

WORDS = ["gen", "ob", "liver", "sag", "smith", "john", "mi", "1", ".", "##s", "##ith"]
STANFORD_LABELS = ["O", "VENDOR", "DATE", "HCW", "HOSPITAL", "ID", "PATIENT", "PHONE"]


def _tiny_model(path: Path, labels: list[str], dominant: str) -> Path:
    """A 1-layer BERT whose classifier always prefers ``dominant``: the NER output is known without training."""
    (path / "vocab.txt").parent.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.fill_(-5.0)
        model.classifier.bias[labels.index(dominant)] = 5.0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def patient_model(tmp_path_factory) -> Path:
    labels = ["O", "B-PATIENT", "I-PATIENT", "B-HCW", "I-HCW", "B-VENDOR", "I-VENDOR", "B-DATE", "I-DATE"]
    return _tiny_model(tmp_path_factory.mktemp("ner_patient"), labels, "B-PATIENT")


def test_ner_path_batches_and_maps_labels(patient_model):
    texts = ["smith john", "gen ob", "sag liver", "mi 1.1", "zzz"]
    tagger = NerTagger(patient_model, batch_size=2)
    found = tagger.find(texts)
    assert tagger.available
    assert len(found) == len(texts)
    for text, spans in zip(texts, found, strict=True):
        # B-PATIENT dominates every token: the whole text (every word piece) is one PATIENT entity
        assert [s.category for s in spans] == ["PATIENT"]
        assert (spans[0].start, spans[0].end) == (0, len(text))
        assert spans[0].score > 0.9


def test_ner_evidence_in_classify_phi(patient_model):
    regions = [TextRegion((0,), (0, 0, 5, 5), t, 0.9) for t in ("smith", "gen ob", "sag liver")]
    out = ClassifyPHI(ner_model=patient_model, ner_batch_size=2)(regions, None)
    assert [(r.is_phi, r.reason) for r in out] == [(True, "ner:PATIENT")] * 3
    assert all(r.score > 0.9 for r in out)
    assert find_phi_spans("smith john", None, ner=NerTagger(patient_model)) == [(0, 10, "ner:PATIENT")]


def test_non_phi_labels_leave_the_decision_to_other_evidence(tmp_path):
    """A model that says VENDOR (not PHI) for everything adds no evidence: the allowlist keeps, doubt redacts."""
    path = _tiny_model(tmp_path / "vendor", STANFORD_LABELS, "VENDOR")
    regions = [TextRegion((0,), (0, 0, 5, 5), t, 0.9) for t in ("gen ob", "smith")]
    out = ClassifyPHId(keys="image", ner_model=path)({"image": torch.zeros(1, 1, 4, 4), "image_text": regions})
    assert [(r.is_phi, r.reason) for r in out["image_text"]] == [(False, "allowlist:preset"), (True, "policy:doubt")]


def test_unknown_labels_are_rejected_at_load(tmp_path):
    path = _tiny_model(tmp_path / "bad", ["O", "B-PATIENT", "B-FOOD", "I-FOOD"], "O")
    with pytest.raises(NerLabelError, match=r"\['B-FOOD', 'I-FOOD'\]"):
        ClassifyPHI(ner_model=path)([TextRegion((0,), (0, 0, 1, 1), "gen", 0.9)], None)
    # the user may map a model's own label names explicitly
    out = ClassifyPHI(ner_model=path, ner_labels={"FOOD": None})([TextRegion((0,), (0, 0, 1, 1), "gen", 0.9)], None)
    assert out[0].reason == "allowlist:mode"


def test_missing_model_warns_once_and_never_downloads(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    classifier = ClassifyPHI(ner_model="StanfordAIMI/stanford-deidentifier-base")
    regions = [TextRegion((0,), (0, 0, 1, 1), t, 0.9) for t in ("Gen OB", "WHITFIELD")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = classifier(regions, None)
        second = classifier(regions, None)
    ours = [w for w in caught if "not available locally" in str(w.message)]
    assert len(ours) == 1
    assert [r.reason for r in first] == [r.reason for r in second] == ["allowlist:preset", "policy:doubt"]
    assert not (tmp_path / "empty_hf_home" / "hub").exists() or not any((tmp_path / "empty_hf_home" / "hub").iterdir())
