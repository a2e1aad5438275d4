"""`layerspec report`."""
