"""Demo data for the ПФДО backend: realistic, deterministic Russian families, providers and programs."""
