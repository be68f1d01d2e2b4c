"""Read SQL of each area (and, as areas move here, their loader classes)."""
