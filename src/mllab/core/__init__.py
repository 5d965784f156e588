"""Config, registry, seeding, devices, errors and run records: the layer everything stands on."""
