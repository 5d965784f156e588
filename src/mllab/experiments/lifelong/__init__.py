"""Section "lifelong": catastrophic forgetting and the multi-task bound; EWC, SI and replay across the three
scenarios. One module per experiment; `common` holds the shared training glue."""
