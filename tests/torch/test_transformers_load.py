"""A sharded ``initreg init`` checkpoint with a transformers model's names loads with ``from_pretrained``
(its index and every shard), every weight taken from the files (skipped without torch and transformers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

from initreg.cli import main  # noqa: E402


def test_llama_loads_from_shards(tmp_path):
    config = transformers.LlamaConfig(vocab_size=500, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    names = {n: list(t.shape) for n, t in transformers.LlamaForCausalLM(config).state_dict().items()}
    (tmp_path / "spec.json").write_text(json.dumps([{"name": n, "shape": s} for n, s in names.items()]))
    (tmp_path / "rules.toml").write_text('seed = 3\n[[rule]]\npattern = "*norm.weight"\ninit = "ones"\n'
                                         '[[rule]]\npattern = "*"\ninit = "normal"\nsigma = 0.02\n')
    out = tmp_path / "ckpt"
    assert main(["init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
                 "-o", str(out), "--max-shard-size", "40KB"]) == 0
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) >= 3
    config.save_pretrained(out)
    model = transformers.LlamaForCausalLM.from_pretrained(out)
    from safetensors.numpy import load_file

    stored = {}
    for f in set(index["weight_map"].values()):
        stored.update(load_file(str(out / f)))
    state = model.state_dict()
    assert set(state) == set(stored)
    for name, value in stored.items():
        assert np.array_equal(state[name].detach().numpy(), value), name
