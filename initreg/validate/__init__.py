"""Statistical validation of initializers against the distributions they promise."""
