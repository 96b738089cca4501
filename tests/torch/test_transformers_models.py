"""transformers models built on the meta device (issue 26, items 1, 2, 7, 9): initreg materializes them with their
computed buffers as the library computes them, the library's own init leaves initreg's values, ties hold.

Power: the KS test compares one 64x256 weight (16,384 values) with the library's own init (fixed seeds) at p > 10⁻³;
a std off by 0.88x (σ-unit truncation) is rejected at p < 10⁻⁶.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from scipy import stats  # noqa: E402

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg.errors import RuleError  # noqa: E402

#: HF's _init_weights as rules: normal(initializer_range) weights, zero biases, unit norms (padding rows aside)
pytestmark = pytest.mark.filterwarnings("ignore::initreg.errors.UnusedRuleWarning")  # one rule set for 3 families

RULES = {"*norm*.weight": "ones", "*ln_*.weight": "ones", "*LayerNorm.weight": "ones", "*.bias": "zeros",
         "*.weight": ["normal", {"sigma": 0.02}]}


def gpt2():
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=64, bos_token_id=0, eos_token_id=0))


def llama():
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=256, max_position_embeddings=64))


def bert():
    return transformers.BertModel(transformers.BertConfig(
        num_hidden_layers=2, hidden_size=64, intermediate_size=256, num_attention_heads=4, vocab_size=256,
        max_position_embeddings=64))


def clip_text():  # its _init_weights(embeddings), run for the meta position_ids, re-initializes the embeddings' children
    return transformers.CLIPTextModel(transformers.CLIPTextConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4, vocab_size=256,
        max_position_embeddings=64, bos_token_id=0, eos_token_id=1, pad_token_id=1))


BUILD = {"gpt2": gpt2, "llama": llama, "bert": bert, "clip_text": clip_text}


def on_meta(build):
    with torch.device("meta"):
        return build()


@pytest.mark.parametrize("family", sorted(BUILD))
def test_meta_model_materializes_with_the_librarys_buffers_runs_and_keeps_initregs_values(family):
    torch.manual_seed(0)
    eager = BUILD[family]()
    model = on_meta(BUILD[family])
    table = it.initialize(model, RULES, seed=0)
    for name, b in eager.named_buffers():
        got = model.get_buffer(name)
        assert not got.is_meta and got.dtype == b.dtype and torch.equal(got, b), name
    for row in table:  # every parameter holds initreg's values for its name
        p = model.get_parameter(row.name)
        assert torch.equal(p.detach(), torch.from_numpy(initreg.values(row.initializer, row.shape, name=row.name,
                                                                       seed=0))), row.name
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.init_weights()  # what post_init and loading paths run
    model.initialize_weights()
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    for name, b in eager.named_buffers():
        assert torch.equal(model.get_buffer(name), b), name
    ids = torch.arange(6)[None]
    out = model(ids)
    hidden = out.logits if hasattr(out, "logits") else out.last_hidden_state
    assert bool(torch.isfinite(hidden).all())


def test_a_meta_clip_vision_model_keeps_initregs_values_whatever_torchs_seed():
    config = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                           num_attention_heads=4, image_size=16, patch_size=8)
    held = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        model = on_meta(lambda: transformers.CLIPVisionModel(config))
        table = it.initialize(model, {**RULES, "*class_embedding": ["normal", {"sigma": 0.02}]}, seed=0)
        for row in table:
            assert torch.equal(model.get_parameter(row.name).detach(), torch.from_numpy(
                initreg.values(row.initializer, row.shape, name=row.name, seed=0))), row.name
        held.append(model.get_parameter("embeddings.patch_embedding.weight").detach().clone())
    assert torch.equal(*held)


def test_ties_hold_and_the_table_names_the_alias():
    model = on_meta(gpt2)
    table = it.initialize(model, RULES, seed=1)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert table["transformer.wte.weight"].aliases == ("lm_head.weight",)


def test_weights_follow_the_librarys_own_distribution():
    torch.manual_seed(0)
    eager = llama()
    model = on_meta(llama)
    it.initialize(model, RULES, seed=0)
    name = "model.layers.0.mlp.up_proj.weight"
    ours, theirs = model.get_parameter(name).detach().numpy().ravel(), eager.get_parameter(name).detach().numpy().ravel()
    assert stats.ks_2samp(ours, theirs).pvalue > 1e-3
    assert stats.ks_2samp(ours * 0.88, theirs).pvalue < 1e-6


def test_plan_of_a_meta_transformers_model_needs_no_rule_for_computed_buffers():
    model = on_meta(bert)
    table = it.plan(model, RULES, seed=0)
    assert not any("position_ids" in r.name or "token_type_ids" in r.name for r in table)


def test_a_custom_modules_computed_buffer_error_does_not_suggest_drawing_it():
    class Rotary(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, 8, 2) / 8)), persistent=False)

    with torch.device("meta"):
        m = Rotary()
    with pytest.raises(RuleError, match="cannot be drawn") as err:
        it.initialize(m, seed=0)
    assert "'zeros'" not in str(err.value) and "init_empty_weights(include_buffers=False)" in str(err.value)
    assert np.all([b.is_meta for b in m.buffers()])


def test_initreg_init_torch_writes_a_seed_checkpoint_of_a_meta_llama(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from initreg.cli import main

    (tmp_path / "tinyllama.py").write_text(
        "import transformers\n"
        "def build():\n"
        "    return transformers.LlamaForCausalLM(transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64,\n"
        "        intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=256,\n"
        "        max_position_embeddings=64))\n")
    (tmp_path / "rules.toml").write_text('[[rule]]\npattern = "*norm.weight"\ninit = "ones"\n\n'
                                         '[[rule]]\npattern = "*.weight"\ninit = "normal"\nsigma = 0.02\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["init", "--torch", "tinyllama:build", "--rules", "rules.toml", "--seed", "0", "-q",
                 "-o", "seed.safetensors"]) == 0
    written = load_file(str(tmp_path / "seed.safetensors"))
    assert "model.rotary_emb.inv_freq" not in written and len(written) == 21


def test_the_uncovered_error_of_a_gpt2_small_stays_short():
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=12, n_embd=64, n_head=4, vocab_size=256))
    with pytest.raises(RuleError) as err:
        it.initialize(model, seed=0)
    text = str(err.value)
    assert len(text) < 2500 and "more" in text and "'transformer.h.0.attn.c_attn.weight'" in text  # was 8.7 KB


def test_the_printed_table_lists_the_tied_name_and_it_can_be_looked_up():
    model = on_meta(gpt2)
    table = it.plan(model, RULES, seed=0)
    assert table["lm_head.weight"] is table["transformer.wte.weight"]
    assert "tied: 'lm_head.weight' is 'transformer.wte.weight'" in str(table)
    assert table.to_dict()["rows"][0]["aliases"] == ["lm_head.weight"]


def test_a_module_refusing_the_library_mark_is_an_error_and_the_meta_model_stays_as_it_was():
    class Strict(torch.nn.Module):  # refuses new attributes, as some wrappers do
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def __setattr__(self, key, value):
            if key == "_is_hf_initialized":
                raise AttributeError("Strict: no new attributes")
            super().__setattr__(key, value)

    model = on_meta(gpt2)
    with torch.device("meta"):
        model.extra = Strict()
    params = dict(model.named_parameters())
    with pytest.raises(initreg.errors.ParameterValueError, match="Strict refuses the attribute '_is_hf_initialized'"):
        it.initialize(model, {**RULES, "extra.lin.*": "zeros"}, seed=0)
    assert dict(model.named_parameters()) == params and all(p.is_meta for p in params.values())
    assert not any("_is_hf_initialized" in vars(x) for x in [*model.modules(), *model.parameters()])


def test_only_on_a_meta_model_leaves_the_tensors_outside_it_to_the_library():
    model = on_meta(gpt2)
    it.initialize(model, RULES, seed=0, only="transformer.h.1.*")
    left = [p for p in model.parameters() if p.is_meta]
    assert left and not any(getattr(p, "_is_hf_initialized", False) for p in left)
    assert all(getattr(p, "_is_hf_initialized", False) for p in model.parameters() if not p.is_meta)
    assert not getattr(model, "_is_hf_initialized", False)  # it holds meta tensors: the library's init still runs


def test_only_naming_a_tied_alias_draws_the_tied_tensor_in_plan_and_initialize_alike():
    model = gpt2()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    planned = [r.name for r in it.plan(model, RULES, seed=1, only="lm_head.weight") if not r.kept]
    table = it.initialize(model, RULES, seed=1, only="lm_head.weight")
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert planned == changed == ["transformer.wte.weight"] and model.lm_head.weight is model.transformer.wte.weight
    row = table["lm_head.weight"]
    assert torch.equal(model.lm_head.weight.detach(), torch.from_numpy(
        initreg.values(row.initializer, row.shape, name="transformer.wte.weight", seed=1)))


def test_computing_a_meta_models_buffers_leaves_torchs_global_generator_as_it_was():
    model = on_meta(clip_text)  # its _init_weights(embeddings), run for position_ids, draws the token embedding
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    it.initialize(model, RULES, seed=0)
    assert torch.equal(torch.rand(4), expected)  # a later dropout mask or data order does not depend on initreg


def test_the_library_computing_buffers_draws_none_of_initregs_tensors(monkeypatch):
    from transformers import initialization

    drawn = []
    real = initialization.normal_

    def normal_(tensor, *args, **kwargs):
        drawn.append((tuple(tensor.shape), tensor.device.type))
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(initialization, "normal_", normal_)
    model = on_meta(clip_text)  # its _init_weights(embeddings), run for position_ids, draws the token embedding
    it.initialize(model, RULES, seed=0)
    assert drawn and all(device == "meta" for _, device in drawn)  # was (256, 64) on the CPU: copied, drawn, put back


@pytest.mark.parametrize("dtype", [torch.bool, torch.complex64])
def test_a_bool_or_complex_meta_buffer_the_library_does_not_compute_is_an_error_not_zeros(dtype):
    class Masked(torch.nn.Module):  # a user's module inside a transformers model: the library's init knows nothing of it
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", torch.tril(torch.ones(4, 4)).to(dtype), persistent=False)

    model = on_meta(llama)
    with torch.device("meta"):
        model.model.extra = Masked()
    with pytest.raises(initreg.errors.ParameterValueError, match="'model.extra.mask' is on the meta device"):
        it.initialize(model, RULES, seed=0)  # was: no error, and the causal mask all False (or zero)
    assert all(t.is_meta for t in [*model.parameters(), *model.buffers()])


def test_the_librarys_init_failing_on_a_computed_buffer_is_an_initreg_error_naming_it(monkeypatch):
    model = on_meta(bert)

    def failing(self, module):
        raise RuntimeError("Cannot copy out of meta tensor")  # what an init reading a hidden weight's values meets

    monkeypatch.setattr(type(model), "_init_weights", failing)
    with pytest.raises(initreg.errors.ParameterValueError, match=r"buffer 'embeddings\.position_ids' .*BertModel"
                                                                 r"\._init_weights .*failed computing it") as err:
        it.initialize(model, RULES, seed=0)
    assert isinstance(err.value.__cause__, RuntimeError)
    assert all(t.is_meta for t in [*model.parameters(), *model.buffers()])
