"""Transitional alias: the validator moved to ``initreg.validation`` (``initreg.validate`` is the function)."""
