"""`layerspec build`."""
