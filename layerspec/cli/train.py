"""`layerspec train`."""
