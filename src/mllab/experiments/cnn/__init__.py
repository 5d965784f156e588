"""Section "cnn": receptive field, parameter sharing, pooling (and the board CNN without it), scaling and
rotation (augmentation, spatial transformer). One module per experiment; `common` holds the training glue."""
