"""The planning layer: name patterns, rules and rule files, precedence, values and regions, the explain table."""
