"""Tiny transformers models of many architectures, built on the meta device and by their constructors, as a new user
meets them: initialize materializes every tensor, computed buffers equal the library's, ties hold, the meta path and
the eager path hold the same bits, the library's init keeps them, the forward pass is finite; raw parameters a user
must cover are a RuleError naming them, with nothing changed.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402

T = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, vocab_size=128,
         max_position_embeddings=32)
SEQ2SEQ = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
               encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=128)
TOWERS = dict(text_config=dict(T, max_position_embeddings=16), vision_config=dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=16, patch_size=8))
IDS = torch.arange(6)[None] + 3

#: what a user writes for the parameters no standard module declares, first the library's common init
RULES = {"*norm*.weight": "ones", "*LayerNorm.weight": "ones", "*.bias": "zeros",
         "*.weight": ["normal", {"sigma": 0.02}]}
NORMAL = ["normal", {"sigma": 0.02}]


def causal(model_type, **kw):
    config = transformers.AutoConfig.for_model
    return lambda: transformers.AutoModelForCausalLM.from_config(config(model_type, **T, **kw))


def base(model_type, **kw):
    return lambda: transformers.AutoModel.from_config(transformers.AutoConfig.for_model(model_type, **kw))


# name: (build, the user's rules for the raw parameters (None: none needed), the forward's inputs)
MODELS = {
    "t5": (base("t5", d_model=32, d_ff=64, d_kv=8, num_layers=1, num_heads=4, vocab_size=128, decoder_start_token_id=0),
           None, dict(input_ids=IDS, decoder_input_ids=IDS)),
    "bart": (base("bart", **SEQ2SEQ, max_position_embeddings=32), None, dict(input_ids=IDS, decoder_input_ids=IDS)),
    "whisper": (base("whisper", **SEQ2SEQ, num_mel_bins=8, max_source_positions=16, max_target_positions=16,
                     pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, suppress_tokens=None,
                     begin_suppress_tokens=None),
                None, dict(input_features=torch.randn(1, 8, 32), decoder_input_ids=IDS)),
    "vit": (base("vit", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                 image_size=16, patch_size=8),
            {"*cls_token": NORMAL, "*position_embeddings": NORMAL}, dict(pixel_values=torch.randn(1, 3, 16, 16))),
    "mistral": (causal("mistral", num_key_value_heads=2), None, dict(input_ids=IDS)),
    "mixtral": (causal("mixtral", num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2),
                {"*.experts.*": NORMAL}, dict(input_ids=IDS)),
    "qwen3_moe": (causal("qwen3_moe", num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                         moe_intermediate_size=16, head_dim=8), {"*.experts.*": NORMAL}, dict(input_ids=IDS)),
    "qwen2": (causal("qwen2", num_key_value_heads=2), None, dict(input_ids=IDS)),
    "gemma3_text": (causal("gemma3_text", num_key_value_heads=2, head_dim=8, sliding_window=4), None,
                    dict(input_ids=IDS)),
    "phi3": (causal("phi3", num_key_value_heads=2, pad_token_id=0, original_max_position_embeddings=16,
                    rope_scaling=dict(type="longrope", short_factor=[1.0] * 4, long_factor=[2.0] * 4)),
             None, dict(input_ids=IDS)),
    "gpt_neox": (causal("gpt_neox"), None, dict(input_ids=IDS)),
    "bloom": (causal("bloom", n_layer=1, n_head=4), None, dict(input_ids=IDS)),
    "falcon": (causal("falcon", num_kv_heads=2), None, dict(input_ids=IDS)),
    "deberta-v2": (base("deberta-v2", **T), None, dict(input_ids=IDS)),
    "modernbert": (base("modernbert", **T, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
                        sep_token_id=2), None, dict(input_ids=IDS)),
    "mamba2": (causal("mamba2", state_size=8, expand=2, conv_kernel=4, num_heads=8, head_dim=8, n_groups=1),
               {"*.A_log": "zeros", "*.D": "ones", "*.dt_bias": "zeros"}, dict(input_ids=IDS)),
    "swin": (base("swin", image_size=16, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=2),
             {"*relative_position_bias_table": NORMAL}, dict(pixel_values=torch.randn(1, 3, 16, 16))),
    "convnext": (base("convnext", hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=16),
                 {"*layer_scale_parameter": ["constant", {"value": 1e-6}]},
                 dict(pixel_values=torch.randn(1, 3, 16, 16))),
    "clip": (base("clip", **TOWERS, projection_dim=16),
             {"logit_scale": ["constant", {"value": 2.6592}], "*class_embedding": NORMAL},
             dict(input_ids=IDS, pixel_values=torch.randn(1, 3, 16, 16))),
    "wav2vec2": (base("wav2vec2", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                      conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=8,
                      num_conv_pos_embedding_groups=4, vocab_size=32),
                 {"masked_spec_embed": "uniform", "*.original0": "ones", "*.original1": NORMAL},
                 dict(input_values=torch.randn(1, 200))),
}


def _ties(model):
    names = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(n)
    return sorted(v for v in names.values() if len(v) > 1)


def _initialize(model, extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", initreg.errors.UnusedRuleWarning)  # one common rule set for every family
        warnings.simplefilter("ignore", initreg.errors.ShadowedRuleWarning)
        return it.initialize(model, {**(extra or {}), **RULES}, seed=0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_meta_model_materializes_as_the_eager_one(name):
    build, extra, inputs = MODELS[name]
    torch.manual_seed(0)
    eager = build()
    with torch.device("meta"):
        model = build()
    error = ""
    if extra:  # the error names every raw parameter a user must cover, and changes nothing
        params = dict(model.named_parameters())  # wav2vec2's masked_spec_embed is built on the CPU even here
        values = {n: p.detach().clone() for n, p in params.items() if not p.is_meta}
        with pytest.raises(initreg.RuleError, match="have no rule, no declared initializer") as err:
            it.initialize(model, RULES, seed=0)
        assert dict(model.named_parameters()) == params
        assert all(p.is_meta or torch.equal(p, values[n]) for n, p in params.items())
        error = str(err.value)
    table = _initialize(model, extra)
    raw = [r.name for r in table if r.rule is not None and r.rule <= len(extra or {})]  # rules count from 1
    assert bool(raw) == bool(extra) and all(repr(n) in error for n in raw)
    assert not [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    for n, b in eager.named_buffers():  # rotary inv_freq, position ids, masks: the library's own values
        got = model.get_buffer(n)
        assert got.dtype == b.dtype and torch.equal(got, b), n
    assert _ties(model) == _ties(eager)
    _initialize(eager, extra)  # the eager path gives the same bits as the meta path
    for n, p in eager.named_parameters():
        assert torch.equal(model.get_parameter(n), p), n
    for row in table:
        assert torch.equal(model.get_parameter(row.name).detach(), torch.from_numpy(initreg.values(
            row.initializer, row.shape, name=row.name, seed=0)).to(model.get_parameter(row.name).dtype)), row.name
    held = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.init_weights()  # what post_init and loading paths run
    assert all(torch.equal(p, held[n]) for n, p in model.named_parameters())
    with torch.no_grad():
        out = model.eval()(**inputs)
    hidden = next(v for k, v in out.items() if isinstance(v, torch.Tensor) and k != "loss")
    assert bool(torch.isfinite(hidden).all())


def test_plan_of_every_meta_model_allocates_nothing():
    for name, (build, extra, _) in MODELS.items():
        with torch.device("meta"):
            model = build()
        meta = [t for t in [*model.parameters(), *model.buffers()] if t.is_meta]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = it.plan(model, {**(extra or {}), **RULES}, seed=0)
        assert meta and all(t.is_meta for t in meta), name
        assert {r.name for r in table} == {n for n, _ in model.named_parameters()}, name


def test_fused_expert_weights_get_torchs_fans_and_an_expression_gives_each_experts_own():
    from initreg.core.fans import fans
    from initreg.planning.expressions import expr

    with torch.device("meta"):
        model = MODELS["mixtral"][0]()
    name = "model.layers.0.mlp.experts.gate_up_proj"  # (experts, 2 * intermediate, hidden) = (4, 128, 32)
    w = model.get_parameter(name)
    assert fans(tuple(w.shape)) == torch.nn.init._calculate_fan_in_and_fan_out(w) == (128 * 32, 4 * 32)
    per_expert = {"*.experts.*": ["uniform", {"scale": expr("sqrt(6 / (shape[-1] + shape[-2]))")}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", initreg.errors.UnusedRuleWarning)
        table = it.initialize(model, {**per_expert, **RULES}, seed=0)
    assert table[name].args["scale"] == pytest.approx((6 / (128 + 32)) ** 0.5)
    assert float(model.get_parameter(name).detach().abs().max()) <= (6 / (128 + 32)) ** 0.5


def test_a_frozen_table_given_a_pytorch_default_warns_and_a_rule_naming_it_does_not():
    with torch.device("meta"):
        model = MODELS["whisper"][0]()
    assert not model.encoder.embed_positions.weight.requires_grad  # sinusoids the library computes; never trained
    weights = {"*layer_norm.weight": "ones", "*.bias": "zeros", "*_proj.weight": NORMAL, "*fc?.weight": NORMAL,
               "*conv?.weight": NORMAL, "*embed_tokens.weight": NORMAL, "decoder.embed_positions.weight": NORMAL}
    with pytest.warns(initreg.errors.InitregWarning, match=r"1 frozen parameter.*'encoder\.embed_positions\.weight' "
                                                           r"\(normal\(sigma=1\.0\)\)"):
        table = it.initialize(model, weights, seed=0)
    assert table["encoder.embed_positions.weight"].decided_by == "declared"
    with torch.device("meta"):
        model = MODELS["whisper"][0]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it.initialize(model, {**weights, "*.weight": NORMAL}, seed=0)
