"""Wide World Importers-shaped OLTP source: schema, generator, workload simulator, ground truth."""
