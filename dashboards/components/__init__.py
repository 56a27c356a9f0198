"""Small reusable dashboard pieces: formatting, schema fields, tiles, charts and page sections."""
