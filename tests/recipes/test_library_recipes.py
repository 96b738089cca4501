"""The shipped recipes, each held to its source through ``initreg.check``.

transformers (gpt2, llama, bert) and mup are installed: their own code builds and initializes the models.
OLMo-core, Megatron-LM and torchtitan are not installable here: their init code is written out below from the
source each recipe names (file and commit), independently of the recipe, and run on a small PyTorch model with
their parameter names.

For each: ``initreg.check`` of the library's values against the recipe passes, so does initreg's own values
(``initreg.torch.initialize`` with the recipe, seed 0, which also checks the bits), and a subtly wrong variant
fails on exactly the parameters it changes. Fixed seeds throughout: each outcome is the same on every run. Power:
every wrong variant changes a std by a factor of √2 or more (or moves a zero row) on thousands of values, where
the Kolmogorov–Smirnov tests behind ``check`` (family alpha 1e-3, Holm) have power ≈ 1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import initreg
import initreg.recipes
from initreg import Rules

torch = pytest.importorskip("torch")


def recipe(name, **vars):
    """The recipe's Rules with the model's config over its [vars] (what ``vars=`` does)."""
    rules = initreg.recipes.load(name)
    return rules.replace(vars={**rules.vars, **vars})


def failed(arrays, rules, seed=None):
    """The names ``initreg.check`` fails (the check must have run on something)."""
    report = initreg.check(arrays, rules, seed=seed)
    assert report.checked, report.summary()
    return {t.label for t in report.targets if t.verdict == "fail"}


def params_of(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def with_rule(rules, pattern, init, before):
    """``rules`` with one more rule inserted before rule number ``before`` (a subtly wrong variant)."""
    items = [(r.pattern, r.target) for r in rules]
    items.insert(before - 1, (pattern, init))
    return Rules(items, vars=rules.vars, about=rules.about, base_shapes=rules.base_shapes)


def initialized_by_initreg(build, rules):
    """A fresh model from ``build`` with initreg's values for ``rules`` (seed 0)."""
    import initreg.torch

    model = build()
    with warnings.catch_warnings():  # a recipe has rules for parts a small model lacks (biases, gates)
        warnings.simplefilter("ignore", initreg.UnusedRuleWarning)
        initreg.torch.initialize(model, rules, seed=0)
    return params_of(model)


# --- transformers: Llama and BERT ----------------------------------------------------------------------

def hf_model(recipe_name, config_class, model_class, **config):
    """(config, build): a transformers model from a small config, built by transformers itself (its own
    ``_init_weights`` draws the values, seed 0); skipped unless transformers is the version the recipe names."""
    transformers = pytest.importorskip("transformers")
    if transformers.__version__ != initreg.recipes.about(recipe_name)["version"]:
        pytest.skip(f"the {recipe_name} recipe was read from transformers "
                    f"{initreg.recipes.about(recipe_name)['version']}")
    config = getattr(transformers, config_class)(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                 num_attention_heads=4, vocab_size=256, **config)

    def build():
        torch.manual_seed(0)
        return getattr(transformers, model_class)(config)

    return config, build


def test_llama_recipe_matches_transformers_and_initregs_values_and_a_depth_scaled_variant_fails():
    config, build = hf_model("llama", "LlamaConfig", "LlamaForCausalLM", num_key_value_heads=2)
    theirs = params_of(build())
    rules = recipe("llama", initializer_range=config.initializer_range)
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(build, rules), rules, seed=0) == set()
    # GPT-2's residual scaling on o_proj/down_proj, which HF Llama does not have: std halved for 2 layers
    scaled = ("normal", {"sigma": 0.02 / math.sqrt(2 * config.num_hidden_layers)})
    wrong = with_rule(rules, "re:.*\\.(o_proj|down_proj)\\.weight", scaled, before=1)
    assert failed(theirs, wrong) == {f"model.layers.{i}.{m}.weight" for i in range(2)
                                     for m in ("self_attn.o_proj", "mlp.down_proj")}


def bert_family(config_class, model_class):
    """(config, transformers' model, its values, initreg's values, the recipe for its config): recipe:bert on a model
    of the BERT family, after both sets of values pass check against the recipe."""
    config, build = hf_model("bert", config_class, model_class, max_position_embeddings=64)
    model = build()
    theirs = params_of(model)
    rules = recipe("bert", initializer_range=config.initializer_range, pad_token_id=config.pad_token_id)
    assert failed(theirs, rules) == set()
    ours = initialized_by_initreg(build, rules)
    assert failed(ours, rules, seed=0) == set()
    return config, model, theirs, ours


def test_bert_recipe_matches_transformers_padding_row_included_and_a_wrong_pad_token_fails():
    config, model, theirs, ours = bert_family("BertConfig", "BertForMaskedLM")
    assert config.pad_token_id == 0 and not model.bert.embeddings.word_embeddings.weight[0].any()
    assert not ours["bert.embeddings.word_embeddings.weight"][0].any()  # the padding row, as transformers has it
    assert failed(theirs, recipe("bert", pad_token_id=1)) == {"bert.embeddings.word_embeddings.weight"}


def test_bert_recipe_matches_distilbert_whose_norms_and_tied_head_are_named_otherwise():
    # sa_layer_norm/output_layer_norm/vocab_layer_norm once fell to the *.weight rule: N(0, 0.02) instead of 1
    _, _, theirs, ours = bert_family("DistilBertConfig", "DistilBertForMaskedLM")
    assert "distilbert.transformer.layer.0.sa_layer_norm.weight" in theirs
    assert all(bool((ours[n] == 1).all()) for n in ours if n.endswith("layer_norm.weight"))


def test_bert_recipe_matches_roberta_whose_position_embeddings_pad_too():
    # RobertaForMaskedLM stopped: its tied lm_head.decoder fell under another rule than word_embeddings
    config, model, theirs, ours = bert_family("RobertaConfig", "RobertaForMaskedLM")
    assert config.pad_token_id == 1 and not model.roberta.embeddings.position_embeddings.weight[1].any()
    assert not ours["roberta.embeddings.position_embeddings.weight"][1].any()
    assert failed(theirs, recipe("bert", pad_token_id=0)) == {"roberta.embeddings.word_embeddings.weight",
                                                              "roberta.embeddings.position_embeddings.weight"}


@pytest.mark.parametrize("family, config_class, model_class", [
    ("gemma", "GemmaConfig", "GemmaForCausalLM"), ("gemma2", "Gemma2Config", "Gemma2ForCausalLM"),
    ("gemma3", "Gemma3TextConfig", "Gemma3ForCausalLM")])
def test_gemma_recipe_matches_transformers_zero_norms_and_padding_row_and_llamas_recipe_fails(family, config_class,
                                                                                               model_class):
    config, build = hf_model("gemma", config_class, model_class, num_key_value_heads=2, head_dim=16)
    model = build()
    theirs = params_of(model)
    assert config.pad_token_id == 0 and not model.model.embed_tokens.weight[0].any()
    rules = recipe("gemma", initializer_range=config.initializer_range, pad_token_id=config.pad_token_id)
    assert failed(theirs, rules) == set()
    ours = initialized_by_initreg(build, rules)
    assert failed(ours, rules, seed=0) == set()
    assert all(not ours[n].any() for n in ours if n.endswith("norm.weight"))
    # recipe:llama's norms are 1: Gemma's 1 + weight would double every one of them
    norms = {n for n in theirs if n.endswith("norm.weight")}
    assert norms and norms <= failed(theirs, recipe("llama", initializer_range=config.initializer_range))

# --- OLMo-core's llama_depth and Megatron-LM, written out from their source ------------------------------

class Named(torch.nn.Module):
    """A PyTorch module whose named_parameters() are exactly ``shapes``' names (a library's own names)."""

    def __init__(self, shapes):
        super().__init__()
        for name, shape in shapes.items():
            parent = self
            *path, leaf = name.split(".")
            for part in path:
                if not hasattr(parent, part):
                    parent.add_module(part, torch.nn.Module())
                parent = getattr(parent, part)
            parent.register_parameter(leaf, torch.nn.Parameter(torch.empty(shape)))


DIM, HIDDEN, VOCAB = 64, 128, 200


def olmo_shapes(n_layers):
    """OLMo-core Transformer's parameter names and shapes (a Llama: attention, SwiGLU feed-forward, RMSNorms)."""
    out = {"embeddings.weight": (VOCAB, DIM)}
    for i in range(n_layers):
        b = f"blocks.{i}."
        out.update({b + "attention.w_q.weight": (DIM, DIM), b + "attention.w_k.weight": (DIM // 2, DIM),
                    b + "attention.w_v.weight": (DIM // 2, DIM), b + "attention.w_out.weight": (DIM, DIM),
                    b + "attention_norm.weight": (DIM,), b + "feed_forward.w1.weight": (HIDDEN, DIM),
                    b + "feed_forward.w2.weight": (DIM, HIDDEN), b + "feed_forward.w3.weight": (HIDDEN, DIM),
                    b + "feed_forward_norm.weight": (DIM,)})
    return {**out, "lm_head.norm.weight": (DIM,), "lm_head.w_out.weight": (VOCAB, DIM)}


def olmo_llama_depth(model, n_layers, init_std=0.02, seed=0):
    """OLMo-core fa6c5014c9f6e9ee789da2d9c20d5126fee8df0d, InitMethod.llama_depth, as its source does it.

    src/olmo_core/nn/transformer/init.py: init_linear = trunc_normal_(std, a=-3*std, b=3*std); init_embeddings:
    normal_ (std 1); init_feed_forward: w1 std, then std /= sqrt(2 * (block_idx + 1)) for w3, and w2 keeps that
    std; init_final_w_out: std = d_model ** -0.5. src/olmo_core/nn/attention/__init__.py Attention.init_weights:
    w_q, w_k, w_v std, w_out std / sqrt(2 * (block_idx + 1)). Norms: reset_parameters, weight 1.
    """
    g = torch.Generator().manual_seed(seed)
    t = dict(model.named_parameters())
    with torch.no_grad():
        def linear(name, std):
            torch.nn.init.trunc_normal_(t[name], mean=0.0, std=std, a=-3 * std, b=3 * std, generator=g)

        torch.nn.init.normal_(t["embeddings.weight"], generator=g)
        for i in range(n_layers):
            b, std = f"blocks.{i}.", init_std
            for w in ("w_q", "w_k", "w_v"):
                linear(b + f"attention.{w}.weight", std)
            linear(b + "attention.w_out.weight", std / (2 * (i + 1)) ** 0.5)
            linear(b + "feed_forward.w1.weight", std)
            std = std / (2 * (i + 1)) ** 0.5
            linear(b + "feed_forward.w3.weight", std)
            linear(b + "feed_forward.w2.weight", std)
            for norm in ("attention_norm", "feed_forward_norm"):
                torch.nn.init.ones_(t[b + norm + ".weight"])
        torch.nn.init.ones_(t["lm_head.norm.weight"])
        linear("lm_head.w_out.weight", DIM ** -0.5)
    return params_of(model)


def test_olmo_llama_depth_recipe_matches_olmo_cores_init_and_w2_keeps_w3s_depth_std():
    shapes = olmo_shapes(3)
    theirs = olmo_llama_depth(Named(shapes), 3)
    rules = recipe("olmo-llama-depth", init_std=0.02, d_model=DIM)
    table = initreg.explain(shapes, rules)
    for i in range(3):
        depth = 0.02 / (2 * (i + 1)) ** 0.5
        for m in ("attention.w_out", "feed_forward.w2", "feed_forward.w3"):
            assert table[f"blocks.{i}.{m}.weight"].args == {"sigma": pytest.approx(depth), "a": -3.0, "b": 3.0}
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(lambda: Named(shapes), rules), rules, seed=0) == set()
    # OLMo-core's "llama" init scales by the number of blocks, not the block index: off from block 0 and 1
    by_count = with_rule(rules, "re:blocks\\.\\d+\\.(attention\\.w_out|feed_forward\\.w2|feed_forward\\.w3)\\.weight",
                         ("truncated_normal", {"sigma": 0.02 / math.sqrt(2 * 3), "a": -3.0, "b": 3.0}), before=1)
    assert failed(theirs, by_count) == {f"blocks.{i}.{m}.weight" for i in (0, 1)
                                        for m in ("attention.w_out", "feed_forward.w2", "feed_forward.w3")}


def megatron_shapes(n_layers):
    """megatron.core GPTModel's parameter names (Transformer Engine layer spec) and shapes."""
    out = {"embedding.word_embeddings.weight": (VOCAB, DIM)}
    for i in range(n_layers):
        b = f"decoder.layers.{i}."
        out.update({b + "self_attention.linear_qkv.layer_norm_weight": (DIM,),
                    b + "self_attention.linear_qkv.weight": (2 * DIM, DIM),
                    b + "self_attention.linear_proj.weight": (DIM, DIM),
                    b + "mlp.linear_fc1.layer_norm_weight": (DIM,), b + "mlp.linear_fc1.weight": (2 * HIDDEN, DIM),
                    b + "mlp.linear_fc2.weight": (DIM, HIDDEN)})
    return {**out, "decoder.final_layernorm.weight": (DIM,), "output_layer.weight": (VOCAB, DIM)}


def megatron_init(model, n_layers, init_method_std=0.02, seed=0):
    """Megatron-LM d98e8a64ddf34856e74b24714e3bedb2f5a39553, as its source does it.

    megatron/core/utils.py: init_method_normal(sigma) = normal_(std=sigma); scaled_init_method_normal(sigma, L) =
    normal_(std=sigma / sqrt(2 * L)). transformer_config.py: init_method (and the embeddings') from
    init_method_std, output_layer_init_method scaled; attention.py linear_proj and mlp.py linear_fc2 take the
    scaled one, everything else (linear_qkv, linear_fc1, embeddings, output_layer) init_method. Norms weight 1.
    """
    g = torch.Generator().manual_seed(seed)
    scaled = init_method_std / math.sqrt(2.0 * n_layers)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if "norm" in name:
                torch.nn.init.ones_(t)
            else:
                std = scaled if name.endswith(("linear_proj.weight", "linear_fc2.weight")) else init_method_std
                torch.nn.init.normal_(t, mean=0.0, std=std, generator=g)
    return params_of(model)


def test_megatron_recipe_matches_megatrons_init_and_an_unscaled_variant_fails():
    shapes = megatron_shapes(4)
    theirs = megatron_init(Named(shapes), 4)
    rules = recipe("megatron", init_method_std=0.02, num_layers=4)
    table = initreg.explain(shapes, rules)
    assert table["decoder.layers.3.mlp.linear_fc2.weight"].args == {"sigma": pytest.approx(0.02 / math.sqrt(8))}
    assert table["decoder.layers.0.self_attention.linear_qkv.layer_norm_weight"].init == "one"
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(lambda: Named(shapes), rules), rules, seed=0) == set()
    # num_layers of another model: the output-layer std off by √2 on linear_proj and linear_fc2 only
    assert failed(theirs, recipe("megatron", num_layers=8)) == {
        f"decoder.layers.{i}.{m}.weight" for i in range(4) for m in ("self_attention.linear_proj", "mlp.linear_fc2")}


def torchtitan_llama3(model, n_layers, dim, seed=0):
    """torchtitan 6404b932421f5ce382e7dac5ad381b2c17b1373c, torchtitan/models/llama3/model/model.py, depth_init=True.

    Transformer.init_weights: normal_(tok_embeddings) (std 1), each layer's init_weights, norms reset (weight 1),
    output trunc_normal_(std=dim ** -0.5, a=-3 std, b=3 std). TransformerBlock.weight_init_std = 0.02 /
    (2 * (layer_id + 1)) ** 0.5; Attention.init_weights: wq, wk, wv trunc_normal_(std=0.02), wo
    trunc_normal_(std=weight_init_std); FeedForward.init_weights: w1 std 0.02, w2 and w3 weight_init_std
    (trunc_normal_'s default a=-2, b=2: absolute bounds).
    """
    torch.manual_seed(seed)
    t = dict(model.named_parameters())
    with torch.no_grad():
        torch.nn.init.normal_(t["tok_embeddings.weight"])
        for i in range(n_layers):
            p, std = f"layers.{i}.", 0.02 / (2 * (i + 1)) ** 0.5
            for norm in ("attention_norm", "ffn_norm"):
                torch.nn.init.ones_(t[p + norm + ".weight"])
            for w in ("wq", "wk", "wv"):
                torch.nn.init.trunc_normal_(t[p + f"attention.{w}.weight"], mean=0.0, std=0.02)
            torch.nn.init.trunc_normal_(t[p + "attention.wo.weight"], mean=0.0, std=std)
            torch.nn.init.trunc_normal_(t[p + "feed_forward.w1.weight"], mean=0.0, std=0.02)
            for w in ("w2", "w3"):
                torch.nn.init.trunc_normal_(t[p + f"feed_forward.{w}.weight"], mean=0.0, std=std)
        torch.nn.init.ones_(t["norm.weight"])
        final = dim ** -0.5
        torch.nn.init.trunc_normal_(t["output.weight"], mean=0.0, std=final, a=-3 * final, b=3 * final)
    return params_of(model)


def test_torchtitan_llama3_recipe_matches_torchtitans_init_and_a_non_depth_variant_fails():
    from test_shipped_recipes import llama_spec

    shapes = dict(llama_spec(n_layers=4, dim=64, hidden=128, vocab=200))
    theirs = torchtitan_llama3(Named(shapes), 4, 64)
    rules = recipe("torchtitan-llama3", dim=64)
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(lambda: Named(shapes), rules), rules, seed=0) == set()
    # depth_init=False: 0.02 / sqrt(2 * n_layers) for every layer, the same as depth_init's at layer 3 only
    flat = with_rule(rules, "re:layers\\.\\d+\\.(attention\\.wo|feed_forward\\.w2|feed_forward\\.w3)\\.weight",
                     ("truncated_normal", {"sigma": 0.02 / math.sqrt(8), "a": -2 / (0.02 / math.sqrt(8)),
                                           "b": 2 / (0.02 / math.sqrt(8))}), before=1)
    assert failed(theirs, flat) == {f"layers.{i}.{m}.weight" for i in (0, 1, 2)
                                    for m in ("attention.wo", "feed_forward.w2", "feed_forward.w3")}


def test_gpt2_recipe_through_check_matches_transformers_and_initregs_values():
    transformers = pytest.importorskip("transformers")
    if transformers.__version__ != initreg.recipes.about("gpt2")["version"]:
        pytest.skip(f"the gpt2 recipe was read from transformers {initreg.recipes.about('gpt2')['version']}")
    config = transformers.GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=512, n_positions=64)

    def build():
        torch.manual_seed(0)
        return transformers.GPT2LMHeadModel(config)

    rules = recipe("gpt2", n_layer=config.n_layer, initializer_range=config.initializer_range)
    theirs = params_of(build())
    assert failed(theirs, rules) == set()
    assert failed(initialized_by_initreg(build, rules), rules, seed=0) == set()
    assert failed(theirs, recipe("gpt2", n_layer=8)) == {f"transformer.h.{i}.{m}.c_proj.weight" for i in range(4)
                                                         for m in ("attn", "mlp")}


# --- mup ---------------------------------------------------------------------------------------------------

def mup_model(width, vocab=96, n_layers=2):
    """A standard pre-LN transformer's parameters, with mup's MuReadout as the output layer."""
    mup = pytest.importorskip("mup")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.ln_1, self.attn, self.proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ln_2, self.fc, self.fc_out = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    class Model(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.embedding = nn.Embedding(vocab, d)
            self.features = nn.Linear(8, d)  # an input weight that is no embedding: mup leaves its std as it is
            self.blocks = nn.ModuleList(Block(d) for _ in range(n_layers))
            self.norm, self.readout = nn.LayerNorm(d), mup.MuReadout(d, vocab)

    return Model(width)


def mup_initialized(width, bsh, sigma=0.02):
    """mup's own set-up: set_base_shapes (which rescales MuReadout), then mup.init.normal_ for every weight
    matrix but the readout, biases zero (mup/init.py, mup/layer.py, mup/shape.py of mup 1.0.0)."""
    import mup

    torch.manual_seed(0)
    model = mup_model(width)
    mup.set_base_shapes(model, str(bsh))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                torch.nn.init.zeros_(p)
            elif p.dim() == 2 and not name.startswith("readout"):
                mup.init.normal_(p, std=sigma)
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def mup_mismatches(theirs, rules, seed=0):
    """Names whose mup values and initreg's values for ``rules`` differ: exactly (ones, zeros) or by a two-sample KS."""
    from scipy import stats

    table = initreg.explain({n: v.shape for n, v in theirs.items()}, rules, seed=seed, strict=True)
    out = set()
    for row in table:
        ours = initreg.values(row.initializer, row.shape, name=row.key_name, seed=seed)
        if row.init in ("one", "zero"):
            same = np.array_equal(ours, theirs[row.name])
        else:
            same = stats.ks_2samp(ours.ravel(), theirs[row.name].ravel()).pvalue > 1e-4
        if not same:
            out.add(row.name)
    return out


def test_mup_recipe_matches_mup_per_parameter_and_a_wrong_width_mult_fails(tmp_path):
    mup = pytest.importorskip("mup")
    bsh = tmp_path / "base.bsh"
    mup.make_base_shapes(mup_model(16), mup_model(32), savefile=str(bsh))  # mup's own .bsh file
    theirs = mup_initialized(256, bsh)
    rules = initreg.recipes.load("mup").replace(base_shapes=str(bsh))
    table = initreg.explain({n: v.shape for n, v in theirs.items()}, rules, strict=True)
    assert table["blocks.0.fc.weight"].variables == {"sigma": 0.02, "width_mult": 16.0, "ninf": 2}
    assert table["features.weight"].args == {"sigma": 0.02}  # ninf 1: unscaled, as mup.init.normal_
    assert table["readout.weight"].args == {"scale": 0.25}  # 1 / sqrt(base width 16)
    assert table["embedding.weight"].args == {"sigma": 0.02}
    assert mup_mismatches(theirs, rules) == set()
    # base shapes of width 64: width_mult 4 instead of 16, so every width-scaled parameter is off by 2
    wrong = tmp_path / "wrong.bsh"
    mup.make_base_shapes(mup_model(64), mup_model(128), savefile=str(wrong))
    hidden = {f"blocks.{i}.{m}.weight" for i in range(2) for m in ("attn", "proj", "fc", "fc_out")}
    assert mup_mismatches(theirs, rules.replace(base_shapes=str(wrong))) == hidden | {"readout.weight"}
