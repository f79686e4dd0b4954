"""The inference forms of EasyOCR's networks compute what the shipped networks compute."""

from __future__ import annotations

import copy
import pickle
import re
import threading

import easyocr
import torch
from torch import nn

from monai_deid.ocr import engine
from monai_deid.ocr.engine import EngineSettings, get_reader, networks
from monai_deid.ocr.fusion import fused_for_inference


def _layers(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


def test_fused_detector_matches_craft():
    craft = get_reader("cpu").detector.eval()
    fused = fused_for_inference(craft)
    x = torch.rand(1, 3, 96, 160) * 4 - 2  # the normalised range of a grey image

    with torch.inference_mode():
        expected, got = craft(x)[0], fused(x)[0]

    torch.testing.assert_close(got, expected, atol=2e-4, rtol=1e-3)
    assert _layers(fused, nn.BatchNorm2d) == 0  # every batch norm follows a convolution and is folded into it
    assert _layers(craft, nn.BatchNorm2d) > 0  # the original is untouched


def test_fused_recogniser_matches_easyocr():
    recogniser = get_reader("cpu").recognizer.eval()
    fused = fused_for_inference(recogniser)
    x = torch.rand(3, 1, 64, 203) * 2 - 1  # odd width: the floor of the strided poolings

    with torch.inference_mode():
        expected, got = recogniser(x, None), fused(x, None)

    torch.testing.assert_close(got, expected, atol=2e-4, rtol=1e-3)
    assert _layers(fused, nn.MaxPool2d) == 0 and _layers(fused, nn.AdaptiveAvgPool2d) == 0
    assert torch.equal(got.argmax(dim=2), expected.argmax(dim=2))


def test_reader_holds_every_weight_easyocr_loads():
    # get_reader builds EasyOCR's networks without drawing their random initial weights: every parameter and buffer
    # must still be the one EasyOCR's own reader loads from the weight files.
    shipped = easyocr.Reader(
        ["en"],
        gpu=False,
        quantize=False,
        model_storage_directory=engine._model_dir(),
        download_enabled=False,
        verbose=False,
    )
    reader = get_reader("cpu")

    for ours, theirs in ((reader.detector, shipped.detector), (reader.recognizer, shipped.recognizer)):
        expected = theirs.state_dict()
        got = ours.state_dict()
        assert got.keys() == expected.keys()
        assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_reader_build_draws_no_random_numbers_and_other_threads_still_do():
    torch.manual_seed(0)
    expected = torch.rand(8)
    torch.manual_seed(0)
    with engine._NoRandomInit():
        nn.Linear(64, 64), nn.Conv2d(3, 8, 3), nn.LSTM(8, 8, bidirectional=True), nn.BatchNorm2d(8)
    assert torch.equal(torch.rand(8), expected)  # nothing was drawn from the generator

    built = {}
    with engine._NoRandomInit():
        worker = threading.Thread(target=lambda: built.update(linear=nn.Linear(64, 64)))
        worker.start()
        worker.join()
    weight = built["linear"].weight.detach()
    bound = 1 / 8  # kaiming_uniform_ with a = sqrt(5) on 64 inputs: U(-1/8, 1/8)
    assert weight.abs().max() <= bound and weight.std() > bound / 4  # drawn, not left as allocated


def test_pooling_that_is_not_window_equal_stride_is_kept():
    block = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(2, 2, 1), nn.ReLU())
    fused = fused_for_inference(block)
    x = torch.rand(1, 2, 9, 9)

    with torch.inference_mode():
        torch.testing.assert_close(fused(x), block(x))
    assert isinstance(fused[0], nn.MaxPool2d) and len(fused) == 2  # the ReLU went into the convolution


def test_networks_run_in_eval_mode():
    # EasyOCR builds its recogniser in training mode (batch norms on batch statistics): a reading would then depend
    # on the other crops of its batch, and every forward would move the running statistics.
    built = networks(EngineSettings(half=False))
    assert not any(m.training for net in (built.detector, built.recognizer) for m in net.modules())


def test_batch_norm_without_running_statistics_is_kept():
    block = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=False), nn.ReLU())
    fused = fused_for_inference(block)

    assert isinstance(fused[1], nn.BatchNorm2d)  # it normalises with batch statistics: nothing to fold


def test_fused_convolutions_without_onednn_compute_the_same():
    # Builds without oneDNN's fused kernel run the convolution and its ReLU apart.
    craft = get_reader("cpu").detector.eval()
    fused = fused_for_inference(craft)
    plain = fused_for_inference(craft)
    for module in plain.modules():
        if hasattr(module, "pointwise"):
            module.pointwise = False
    x = torch.rand(1, 3, 64, 96) * 4 - 2

    with torch.inference_mode():
        torch.testing.assert_close(plain(x)[0], fused(x)[0], atol=1e-4, rtol=1e-3)


def test_blocked_weights_serve_other_shapes_and_copies():
    # The weights are reordered for oneDNN at the first call; calls of other shapes, deep copies and pickles of a
    # network already used must compute what the shipped network computes.
    craft = get_reader("cpu").detector.eval()
    fused = fused_for_inference(craft)
    first, other = torch.rand(1, 3, 64, 64) * 4 - 2, torch.rand(2, 3, 96, 160) * 4 - 2

    with torch.inference_mode():
        fused(first)
        copied = copy.deepcopy(fused)
        unpickled = pickle.loads(pickle.dumps(fused))
        expected = craft(other)[0]
        for network in (fused, copied, unpickled):
            torch.testing.assert_close(network(other)[0], expected, atol=2e-4, rtol=1e-3)


def test_a_shape_seen_before_reorders_no_weights(capfd):
    # oneDNN can want a convolution's weights in another blocked layout for another input shape, and then lays the
    # weights packed for the first shape out again on every call of the second. On a Xeon with AVX-512, CRAFT's
    # 1 x 1 ones (56 ms of a 96 x 96 doubt check's 82); on an AMD EPYC with AVX2 only, its 3 x 3 ones too (blocks of
    # 16, 24 or 32 output channels: 565 ms of every call after the first shape).
    fused = fused_for_inference(get_reader("cpu").detector.eval())
    wide, square = torch.rand(1, 3, 128, 256) * 4 - 2, torch.rand(1, 3, 96, 96) * 4 - 2

    with torch.inference_mode():
        fused(wide)
        fused(square)
        capfd.readouterr()
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            fused(square)
            fused(wide)
    calls = capfd.readouterr().out.splitlines()

    assert any(",convolution," in line for line in calls)  # oneDNN reported what it ran
    assert not [line for line in calls if ",reorder," in line and re.search(r"\d+x\d+x(1x1|3x3),", line)]
