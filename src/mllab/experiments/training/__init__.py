"""Section "training": accumulation, regularisation, double descent, function approximation, depth vs optimisation."""
