"""Checkpoints: .npz/.safetensors files, sharded layouts, the writers, provenance and verify."""
