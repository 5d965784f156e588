"""Section "explain": saliency maps, SmoothGrad, LIME and the sanity check of explanations. One module per
experiment; `common` trains the shared mnist5k CNN once per (seed, settings) within a process."""
