"""Gluon-style parameters: Parameter, ParameterDict, their options, load and save."""
