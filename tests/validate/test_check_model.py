"""``initreg.check(model, rules)``: names the rules leave are checked against the model's declared defaults.

The case of issue 26: a timm ResNet rule file that forgot ``zero_init_last`` (every bn3.weight zero) passed,
because BatchNorm's weights were left to PyTorch's declared default and reported unchecked. Checked against
the model, BatchNorm declares weight 1, so the zeros fail, by name. The failures here are exact checks
(zeros against ones), so they fail at any alpha; the passing runs are fixed-seed (torch.manual_seed).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg  # noqa: E402
from initreg.cli import main  # noqa: E402
from initreg.planning.rules import Rules  # noqa: E402

CONV_RULE = '''
[[rule]]
pattern = "re:.*conv\\\\d\\\\.weight|.*downsample\\\\.0\\\\.weight"
init = "variance_scaling"
scale = 2.0
mode = "fan_out"
distribution = "untruncated_normal"
'''
BN3_RULE = '''
[[rule]]
pattern = "*.bn3.weight"
init = "zeros"
'''


class Bottleneck(nn.Module):
    """timm's Bottleneck, plain: 1×1 → 3×3 → 1×1 (×4 channels), BatchNorm after each, an optional downsample."""

    def __init__(self, inplanes: int, planes: int, downsample: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, bias=False),
                                        nn.BatchNorm2d(planes * 4)) if downsample else None

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)


class ResNetish(nn.Module):
    """A stem, three bottlenecks and a classifier, as timm's ResNet lays them out."""

    def __init__(self, planes: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2 * planes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(2 * planes)
        self.layer1 = nn.Sequential(Bottleneck(2 * planes, planes, True), Bottleneck(4 * planes, planes, False),
                                    Bottleneck(4 * planes, planes, False))
        self.fc = nn.Linear(4 * planes, 100)


def library_init(model: nn.Module, zero_init_last: bool = True) -> nn.Module:
    """timm's ResNet.init_weights: Kaiming normal (fan_out, relu) convolutions, BatchNorm as built (1, 0), the
    classifier as PyTorch made it, then zero_init_last."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if zero_init_last:
        for m in model.modules():
            if hasattr(m, "zero_init_last"):
                m.zero_init_last()
    return model


def built(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return library_init(ResNetish())


BN3 = {"layer1.0.bn3.weight", "layer1.1.bn3.weight", "layer1.2.bn3.weight"}


def test_the_rule_file_that_says_zero_init_last_passes():
    report = initreg.check(built(), Rules.loads(CONV_RULE + BN3_RULE))
    assert report.passed, report.failure_text()
    assert not report.unchecked  # BatchNorm and the classifier are checked against their declared defaults
    assert report.verdict("fc.weight") == "pass" and report.verdict("layer1.0.bn1.bias") == "pass"


def test_the_rule_file_that_forgot_zero_init_last_fails_naming_every_bn3_weight():
    report = initreg.check(built(), Rules.loads(CONV_RULE))
    assert not report.passed
    assert {r.initializer for r in report.failures()} == BN3
    text = str(report)
    assert text.splitlines()[0] == report.summary()
    for name in BN3:
        assert f"FAIL {name} " in text
    assert "exact" in text and "expected" in text and len(repr(report)) < 300


def test_the_state_dict_path_is_unchanged_and_model_plans_it():
    net = built()
    plain = initreg.check(net.state_dict(), Rules.loads(CONV_RULE))
    assert plain.verdict("layer1.0.bn3.weight") == "unchecked"  # a mapping alone knows no declared defaults
    planned = initreg.check(net.state_dict(), Rules.loads(CONV_RULE), model=net)
    assert {r.initializer for r in planned.failures()} == BN3
    assert planned.verdict("layer1.0.bn1.running_mean") == "unchecked"  # buffers: no rule, nothing declared


def test_a_model_parameter_with_nothing_is_unchecked_not_an_error():
    class Raw(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4))
            self.fc = nn.Linear(64, 32)

    report = initreg.check(Raw(), None)
    assert report.verdict("scale") == "unchecked" and "declares no default" in str(report)
    assert report.verdict("fc.weight") == "pass"


def test_tied_parameters_are_checked_once_and_expected_to_match():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(300, 64)
            self.head = nn.Linear(64, 300, bias=False)
            self.head.weight = self.emb.weight

    torch.manual_seed(1)
    report = initreg.check(Tied(), None)
    assert report.passed, report.failure_text()
    assert [t.label for t in report.targets] == ["emb.weight"]


def test_a_model_argument_must_be_a_module_and_hold_values():
    with pytest.raises(initreg.ValidationError, match="torch.nn.Module"):
        initreg.check({}, None, model=object())
    with torch.device("meta"):
        empty = nn.Linear(4, 4)
    with pytest.raises(initreg.ValidationError, match="'weight', 'bias' hold no values"):
        initreg.check(empty, None)


def test_cli_torch_plans_the_checkpoint_with_the_factory_defaults(tmp_path, monkeypatch, capsys):
    safetensors = pytest.importorskip("safetensors.torch")
    net = built()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    safetensors.save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "rules.toml").write_text(CONV_RULE, encoding="utf-8")
    (tmp_path / "rules_bn3.toml").write_text(CONV_RULE + BN3_RULE, encoding="utf-8")
    (tmp_path / "resnetish.py").write_text(
        "from tests.validate.test_check_model import ResNetish\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    base = ["check", "model.safetensors", "--torch", "resnetish:ResNetish"]
    assert main(base + ["--rules", "rules_bn3.toml"]) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(base + ["--rules", "rules.toml"]) == 1
    out = capsys.readouterr().out
    for name in BN3:
        assert name in out
    assert main(["check", "model.safetensors", "--rules", "rules.toml"]) == 0  # without --torch: unchecked
    assert "layer1.0.bn3.weight" in capsys.readouterr().out


def test_timm_resnet_that_forgot_zero_init_last_fails():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("resnet26", pretrained=False, num_classes=10, zero_init_last=True)
    rules = CONV_RULE
    report = initreg.check(model, Rules.loads(rules))
    bn3 = {n for n, _ in model.named_parameters() if n.endswith("bn3.weight")}
    assert bn3 and {r.initializer for r in report.failures()} >= bn3
    for name in bn3:
        assert f"FAIL {name} " in str(report)
    assert initreg.check(model, Rules.loads(rules + BN3_RULE)).verdict(sorted(bn3)[0]) == "pass"


def test_a_rule_reading_a_convolutions_groups_checks_the_model():
    # check planned the arrays without their modules first, where no parameter has groups: a RuleError
    from initreg.planning.expressions import expr

    conv = torch.nn.Conv2d(64, 64, 3, groups=64)
    goog = ["variance_scaling", {"scale": expr("2 * groups"), "mode": "fan_out", "distribution": "untruncated_normal"}]
    rules = {"weight": goog, "bias": "zeros"}
    initreg.torch.initialize(conv, rules, seed=0)
    assert initreg.check(conv, rules).passed
    with torch.no_grad():
        conv.weight.div_(8.0)  # fan_out not divided by groups: std sqrt(64) times too small
    assert not initreg.check(conv, rules).passed
