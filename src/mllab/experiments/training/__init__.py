"""Section "training": accumulation, regularisation, function approximation, depth vs optimisation."""
